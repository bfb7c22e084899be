"""Story clustering: the same event from many sources becomes one story.

How it works, stage by stage:
1. Each article becomes one sparse vector: light-stemmed word TF-IDF (title counted above the
   lead, the lead above the body) beside character n-gram TF-IDF of title and lead, plus a
   small "name skeleton" channel that matches spelling variants (بوتين / بوتن).
2. Candidate pairs come from a sparse product inside a sliding time window (an inverted index
   in effect): never all pairs. Each article keeps its top neighbours only.
3. Pair scores decay mildly with the time between articles; shared specific numbers add
   evidence.
4. Average-linkage agglomerative clustering over that sparse graph joins groups while their
   mean similarity stays above the threshold. A merge that only just clears the threshold gets
   a second look: it must also agree on the article bodies.
5. Across runs, earlier assignments are fixed groups: new articles may join them, two earlier
   stories are never merged, and a story keeps its id.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize as l2_normalize

from briefing.arabic import content_tokens, normalize
from briefing.config import Cluster
from briefing.errors import BriefingError
from briefing.models import Article, Story

# "دبي، الإمارات العربية المتحدة (CNN) -- " and similar datelines say where the desk sits,
# not what happened: they would pull unrelated articles of one site together.
_DATELINE = re.compile(r"^[^\n]{0,80}?\([A-Za-z. ]{2,20}\)\s*[-–—]+\s*")
_LEAD_WORDS = 60
_BODY_WORDS = 400
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Long vowels and hamza seats vary between spellings of one foreign name.
_SKELETON_DROP = str.maketrans("", "", "اويءه")


class ClusterInputError(BriefingError):
    """A line of the clustering input cannot be read as an article."""


@dataclass(frozen=True, slots=True)
class Features:
    """The matrices clustering needs, rows in the order of the articles given."""

    vectors: sparse.csr_matrix  # title+lead representation, rows L2-normalized
    bodies: sparse.csr_matrix  # body word TF-IDF, rows L2-normalized (the second look)
    numbers: tuple[frozenset[str], ...]  # specific numbers in title and lead
    hours: np.ndarray  # publication time in hours since the epoch


# --- representation ------------------------------------------------------------------------


def lead_of(article: Article, words: int = _LEAD_WORDS) -> str:
    """The first words of the body (or the feed description), dateline removed."""
    text = article.text.strip() or article.description.strip()
    text = _DATELINE.sub("", text, count=1)
    return " ".join(text.split()[:words])


def _body_of(article: Article) -> str:
    text = _DATELINE.sub("", article.text.strip(), count=1)
    return " ".join(text.split()[:_BODY_WORDS])


def _weighted_tokens(article: Article, settings: Cluster) -> list[str]:
    title = content_tokens(article.title)
    lead = content_tokens(lead_of(article, settings.lead_words))
    return title * settings.title_weight + lead


def _skeleton_tokens(article: Article) -> list[str]:
    """Consonant skeletons of longer words: spelling variants of one name meet here."""
    words = content_tokens(article.title + " " + lead_of(article), stemmed=True)
    return [
        "~" + w.translate(_SKELETON_DROP)
        for w in words
        if len(w) >= 4 and not w.isdigit() and len(w.translate(_SKELETON_DROP)) >= 3
    ]


def _specific_numbers(text: str) -> frozenset[str]:
    """Numbers that identify an event: not years, not small counts that every story has."""
    found = set()
    for raw in _NUMBER.findall(normalize(text)):
        value = raw.replace(",", "")
        try:
            number = float(value)
        except ValueError:
            continue
        if number < 11 or (1900 <= number <= 2100 and "." not in value):
            continue
        found.add(value)
    return frozenset(found)


def _tfidf(docs: list[list[str]]) -> sparse.csr_matrix:
    vectorizer = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True, min_df=1)
    try:
        return vectorizer.fit_transform(docs).tocsr()
    except ValueError:  # every document empty
        return sparse.csr_matrix((len(docs), 1))


def build_features(articles: Sequence[Article], settings: Cluster) -> Features:
    """Turn articles into the weighted sparse vectors that similarity is computed on."""
    words = _tfidf([_weighted_tokens(a, settings) for a in articles])
    skeletons = _tfidf([_skeleton_tokens(a) for a in articles])
    heads = [normalize(a.title + " " + lead_of(a, settings.lead_words)) for a in articles]
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1
    ).fit_transform(heads)
    total = settings.word_weight + settings.char_weight + settings.skeleton_weight
    parts = [
        math.sqrt(settings.word_weight / total) * words,
        math.sqrt(settings.char_weight / total) * chars,
        math.sqrt(settings.skeleton_weight / total) * skeletons,
    ]
    vectors = sparse.hstack(parts, format="csr")
    bodies = l2_normalize(_tfidf([content_tokens(_body_of(a)) for a in articles]))
    numbers = tuple(_specific_numbers(a.title + " " + lead_of(a)) for a in articles)
    hours = np.array([a.published.timestamp() / 3600 for a in articles], dtype=float)
    return Features(vectors=vectors.tocsr(), bodies=bodies.tocsr(), numbers=numbers, hours=hours)


# --- candidate graph -----------------------------------------------------------------------


def candidate_edges(features: Features, settings: Cluster) -> dict[tuple[int, int], float]:
    """Scored pairs (i < j) among time neighbours, each article keeping its top neighbours.

    Rows are taken in time order, a block at a time, and multiplied only with the rows that
    fall inside the time window around the block: cost grows with articles x window density.
    """
    n = features.vectors.shape[0]
    order = np.argsort(features.hours, kind="stable")
    hours = features.hours[order]
    matrix = features.vectors[order]
    window = float(settings.window_hours)
    edges: dict[tuple[int, int], float] = {}
    block = 256
    for start in range(0, n, block):
        stop = min(start + block, n)
        lo = int(np.searchsorted(hours, hours[start] - window, side="left"))
        hi = int(np.searchsorted(hours, hours[stop - 1] + window, side="right"))
        products = (matrix[start:stop] @ matrix[lo:hi].T).tocsr()
        for row in range(stop - start):
            i = start + row
            begin, end = products.indptr[row], products.indptr[row + 1]
            cols = products.indices[begin:end] + lo
            sims = products.data[begin:end]
            keep = (cols != i) & (sims >= settings.min_edge)
            cols, sims = cols[keep], sims[keep]
            gaps = np.abs(hours[cols] - hours[i])
            in_window = gaps <= window
            cols, sims, gaps = cols[in_window], sims[in_window], gaps[in_window]
            sims = sims * np.exp(-gaps / settings.decay_hours)
            if len(sims) > settings.neighbours:
                top = np.argpartition(-sims, settings.neighbours)[: settings.neighbours]
                cols, sims = cols[top], sims[top]
            for j, sim in zip(cols.tolist(), sims.tolist(), strict=True):
                a, b = int(order[i]), int(order[j])
                key = (a, b) if a < b else (b, a)
                edges[key] = max(edges.get(key, 0.0), sim)
    return _with_number_evidence(edges, features, settings)


def _with_number_evidence(
    edges: dict[tuple[int, int], float], features: Features, settings: Cluster
) -> dict[tuple[int, int], float]:
    """A specific number shared by both leads (a toll, a count, a score) is strong evidence."""
    if settings.number_bonus <= 0:
        return edges
    numbers = features.numbers
    return {
        (i, j): sim + settings.number_bonus * min(2, len(numbers[i] & numbers[j]))
        for (i, j), sim in edges.items()
    }


# --- average linkage -----------------------------------------------------------------------


def average_linkage(
    n: int,
    edges: Mapping[tuple[int, int], float],
    threshold: float,
    groups: Sequence[Sequence[int]] = (),
    frozen: Iterable[int] = (),
    second_look: Second | None = None,
) -> list[int]:
    """Cluster label per item: merge the closest groups while mean similarity >= threshold.

    Missing edges count as 0, so the mean is over all member pairs. `groups` start merged;
    two groups whose first members are both in `frozen` are never merged (earlier stories).
    """
    parent = list(range(n))
    size = [1] * n
    links: list[dict[int, float]] = [{} for _ in range(n)]
    for (i, j), sim in edges.items():
        links[i][j] = links[i].get(j, 0.0) + sim
        links[j][i] = links[j].get(i, 0.0) + sim
    fixed = [False] * n
    for i in frozen:
        fixed[i] = True
    members: list[list[int]] = [[i] for i in range(n)]

    def merge(a: int, b: int) -> int:
        """Fold b into a; return a."""
        parent[b] = a
        size[a] += size[b]
        fixed[a] = fixed[a] or fixed[b]
        members[a].extend(members[b])
        members[b] = []
        for c, total in links[b].items():
            if c == a:
                continue
            links[a][c] = links[a].get(c, 0.0) + total
            links[c][a] = links[c].get(a, 0.0) + total
            links[c].pop(b, None)
        links[a].pop(b, None)
        links[b] = {}
        return a

    for group in groups:
        if len(group) > 1:
            head = group[0]
            for other in group[1:]:
                merge(head, other)

    heap: list[tuple[float, int, int, int, int]] = []

    def push(a: int, b: int) -> None:
        mean = links[a][b] / (size[a] * size[b])
        if mean >= threshold:
            heapq.heappush(heap, (-mean, a, b, size[a], size[b]))

    for a in range(n):
        if parent[a] == a:
            for b in links[a]:
                if a < b:
                    push(a, b)
    while heap:
        neg, a, b, size_a, size_b = heapq.heappop(heap)
        if parent[a] != a or parent[b] != b or size[a] != size_a or size[b] != size_b:
            continue  # stale entry: one side has changed since it was pushed
        if fixed[a] and fixed[b]:
            continue
        if second_look and not second_look.agrees(-neg, members[a], members[b]):
            continue
        if size[a] < size[b]:
            a, b = b, a
        a = merge(a, b)
        for c in list(links[a]):
            push(a, c) if a < c else push(c, a)
    labels = []
    for i in range(n):
        root = i
        while parent[root] != root:
            root = parent[root]
        labels.append(root)
    return labels


@dataclass(frozen=True, slots=True)
class Second:
    """The second look at a borderline merge: do the bodies agree as well as the leads?"""

    bodies: sparse.csr_matrix
    threshold: float
    margin: float
    min_body: float

    def agrees(self, mean: float, left: Sequence[int], right: Sequence[int]) -> bool:
        if mean >= self.threshold + self.margin:
            return True
        left_centroid = np.asarray(self.bodies[list(left)].mean(axis=0)).ravel()
        right_centroid = np.asarray(self.bodies[list(right)].mean(axis=0)).ravel()
        norms = np.linalg.norm(left_centroid) * np.linalg.norm(right_centroid)
        if norms == 0:
            return False
        return float(left_centroid @ right_centroid) / norms >= self.min_body


# --- the contract --------------------------------------------------------------------------


def cluster_labels(articles: Sequence[Article], settings: Cluster) -> list[int]:
    """One label per article (no earlier runs): the core used by evaluation and benchmarks."""
    return _labels(articles, settings, groups=(), frozen=())


@dataclass(frozen=True, slots=True)
class Prepared:
    """Features and scored candidate pairs: everything before the threshold is applied."""

    features: Features
    edges: dict[tuple[int, int], float]


def prepare(articles: Sequence[Article], settings: Cluster) -> Prepared:
    features = build_features(articles, settings)
    return Prepared(features, candidate_edges(features, settings))


def link(
    prepared: Prepared,
    settings: Cluster,
    threshold: float | None = None,
    groups: Sequence[Sequence[int]] = (),
    frozen: Iterable[int] = (),
) -> list[int]:
    """Average-linkage labels at `threshold` (default: the configured one)."""
    threshold = settings.threshold if threshold is None else threshold
    second = None
    if settings.second_look_margin > 0:
        second = Second(
            bodies=prepared.features.bodies,
            threshold=threshold,
            margin=settings.second_look_margin,
            min_body=settings.second_look_body,
        )
    n = prepared.features.vectors.shape[0]
    return average_linkage(n, prepared.edges, threshold, groups, frozen, second)


def _labels(
    articles: Sequence[Article],
    settings: Cluster,
    groups: Sequence[Sequence[int]],
    frozen: Iterable[int],
) -> list[int]:
    if not articles:
        return []
    return link(prepare(articles, settings), settings, None, groups, frozen)


def story_id_for(article_id: str) -> str:
    """A stable story id derived from the id of the story's first article."""
    return "s-" + hashlib.sha1(article_id.encode("utf-8")).hexdigest()[:12]


def assign_stories(
    articles: Sequence[Article], previous: Mapping[str, str], settings: Cluster
) -> dict[str, str]:
    """Map every article id to a story id.

    `previous` holds article id -> story id for articles assigned by earlier runs; those keep
    their story (stable ids across runs), new articles join an existing story or start a new
    one. A new story's id comes from its earliest article's id.
    """
    unique = list({a.id: a for a in articles}.values())
    index = {a.id: i for i, a in enumerate(unique)}
    by_story: dict[str, list[int]] = {}
    for article_id, story in previous.items():
        if article_id in index:
            by_story.setdefault(story, []).append(index[article_id])
    groups = list(by_story.values())
    labels = _labels(unique, settings, groups, frozen=[g[0] for g in groups])
    story_of_root: dict[int, str] = {}
    for story, group in by_story.items():
        story_of_root[labels[group[0]]] = story
    earliest: dict[int, Article] = {}
    for article, label in zip(unique, labels, strict=True):
        first = earliest.get(label)
        if first is None or (article.published, article.id) < (first.published, first.id):
            earliest[label] = article
    return {
        a.id: story_of_root.get(label) or story_id_for(earliest[label].id)
        for a, label in zip(unique, labels, strict=True)
    }


def rank_stories(
    stories: Sequence[Story], now: datetime, section_order: Sequence[str] = ()
) -> list[Story]:
    """Order stories for the digest; return copies with `score` set.

    Score = distinct sources (log-damped, the strongest signal: many desks found it worth
    covering) x the best feed weight x freshness (half-life 12 hours from the latest article)
    x a small bonus for sections listed earlier in `section_order`.
    """
    rank_of = {section: i for i, section in enumerate(section_order)}
    scored = []
    for story in stories:
        sources = len(story.sources)
        age_hours = max(0.0, (now - story.latest).total_seconds() / 3600)
        freshness = 0.5 ** (age_hours / 12)
        weight = max(a.weight for a in story.articles)
        position = rank_of.get(story.section, len(section_order))
        section_bonus = 1 + 0.1 * (len(section_order) - position) / max(1, len(section_order))
        score = (1 + math.log2(sources)) * weight * (0.25 + freshness) * section_bonus
        scored.append(replace(story, score=round(score, 6)))
    return sorted(scored, key=lambda s: (-s.score, -s.latest.timestamp(), s.id))


# --- JSON lines in and out -----------------------------------------------------------------


def parse_published(value: object, line: int) -> datetime:
    """ISO 8601 or RFC 822 to an aware UTC datetime; naive times are taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        raise ClusterInputError(
            f"line {line}: 'published' must be a date string, got {value!r}",
            hint="use ISO 8601 (2018-04-01T10:00:00+00:00) or RFC 822",
        )
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise ClusterInputError(
                f"line {line}: cannot read the date {text!r}",
                hint="use ISO 8601 (2018-04-01T10:00:00+00:00) or RFC 822",
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def article_from_record(record: Mapping[str, object], line: int) -> Article:
    """An Article from one JSON object (our fields, or ANT's docno/pub_time/abstract)."""
    article_id = record.get("id", record.get("docno"))
    title = record.get("title")
    text = record.get("text", "")
    if not isinstance(article_id, str | int) or str(article_id).strip() == "":
        raise ClusterInputError(f"line {line}: missing 'id' (or 'docno')", hint="every line")
    if not isinstance(title, str):
        raise ClusterInputError(f"line {line}: missing or non-text 'title'", hint="every line")
    if not isinstance(text, str):
        raise ClusterInputError(f"line {line}: 'text' must be a string", hint="or leave it out")
    when = record.get("published", record.get("pub_time"))
    published = parse_published(when, line) if when is not None else datetime.now(UTC)
    source = record.get("source", "")
    description = record.get("description", record.get("abstract", ""))
    return Article(
        id=str(article_id),
        feed=str(source),
        source=str(source),
        section=str(record.get("section", record.get("category", ""))),
        url=str(record.get("url", "")),
        title=title,
        text=text,
        description=description if isinstance(description, str) else "",
        published=published,
        published_estimated=when is None,
    )


def read_articles_jsonl(path: Path) -> list[Article]:
    """Articles from a JSON-lines file; blank lines are skipped; bad lines raise with number."""
    articles = []
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        message = f"cannot read {path}: {exc.strerror}"
        raise ClusterInputError(message, hint="check the path") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ClusterInputError(
                    f"{path}:{number}: not valid JSON ({exc.msg})", hint="one object a line"
                ) from exc
            if not isinstance(record, dict):
                raise ClusterInputError(f"{path}:{number}: expected a JSON object")
            articles.append(article_from_record(record, number))
    return articles


def cluster_jsonl(input_path: Path, output_path: Path, settings: Cluster | None = None) -> int:
    """`briefing cluster --input ARTICLES.jsonl --output STORIES.jsonl`; returns lines written."""
    articles = read_articles_jsonl(Path(input_path))
    stories = assign_stories(articles, {}, settings or Cluster())
    lines = [json.dumps({"id": a.id, "story": stories[a.id]}, ensure_ascii=False) for a in articles]
    Path(output_path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)
