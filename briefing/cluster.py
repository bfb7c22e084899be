"""Story clustering: the same event from many sources becomes one story.

How it works, stage by stage:
1. Each article becomes one sparse vector: light-stemmed word TF-IDF of the title and the lead
   (the body's first words, dateline removed), the title counted twice, IDF raised to a power
   (1.5) so that rare names and numbers weigh more than a topic's common words.
2. Candidate pairs come from a sparse product inside a sliding time window (an inverted index
   in effect): never all pairs. Each article keeps its top neighbours only.
3. Agglomerative clustering with centroid linkage over that sparse graph: the closest pair of
   groups (cosine of their summed vectors) merges first, while it stays above the threshold.
   A story that unfolds through the day keeps its shared vocabulary in the centroid, so its
   updates join even when they share little with its first report.
4. A second look: two articles still alone, from two sources, that are each other's best
   match merge at a lower cosine when their whole bodies agree too (two reports of one small
   event share its few names but little else).
5. Across runs, earlier assignments are groups to start from: new articles join them or start
   new ones, and a story keeps its id. Two earlier stories merge when they meet the same bar
   (an event first reported by two sources before either saw the other), under the id of
   the older one, which keeps its edition history; readers then see one story, not two.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from briefing.arabic import content_tokens
from briefing.arabic.sentences import without_dateline
from briefing.config import Cluster
from briefing.errors import BriefingError
from briefing.models import Article, Story

_LEAD_WORDS = 60


class ClusterInputError(BriefingError):
    """A line of the clustering input cannot be read as an article."""


@dataclass(frozen=True, slots=True)
class Features:
    """What clustering needs, rows in the order of the articles given."""

    vectors: sparse.csr_matrix  # title+lead word TF-IDF, title weighted, IDF sharpened; L2 rows
    hours: np.ndarray  # publication time in hours since the epoch
    weights: TfidfVectorizer | None  # the fitted IDF, to weigh other texts alike (None: no words)


# --- representation ------------------------------------------------------------------------


def body_of(article: Article) -> str:
    """The article's text, or the feed description when the feed gave no text."""
    return article.text.strip() or article.description.strip()


def lead_of(article: Article, words: int = _LEAD_WORDS) -> str:
    """The first words of the body (or the feed description), dateline removed."""
    # A dateline says where the desk sits, not what happened: it would pull unrelated
    # articles of one site together.
    text = without_dateline(body_of(article))
    return " ".join(text.split()[:words])


def _fit_tfidf(docs: list[list[str]], idf_power: float = 1.0) -> TfidfVectorizer | None:
    """Sublinear TF-IDF fitted on token lists (None when every document is empty).

    `idf_power` > 1 sharpens IDF: names, places and numbers that few articles share then
    outweigh the common vocabulary of a topic (trade war, Yemen, a league).
    """
    vectorizer = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True, min_df=1)
    try:
        vectorizer.fit(docs)
    except ValueError:  # every document empty
        return None
    vectorizer.idf_ = vectorizer.idf_**idf_power
    return vectorizer


def article_tokens(article: Article, settings: Cluster) -> list[str]:
    """Stemmed content words of the title (repeated: headlines name the event) and lead."""
    title = content_tokens(article.title)
    return title * settings.title_weight + content_tokens(lead_of(article, settings.lead_words))


def build_features(articles: Sequence[Article], settings: Cluster) -> Features:
    """Turn articles into the sparse vectors that similarity is computed on.

    IDF comes from the articles given: in the pipeline, the clustering window.
    """
    docs = [article_tokens(a, settings) for a in articles]
    weights = _fit_tfidf(docs, settings.idf_power)
    vectors = sparse.csr_matrix((len(docs), 1)) if weights is None else weights.transform(docs)
    return Features(
        vectors=vectors.tocsr(),
        hours=np.array([a.published.timestamp() / 3600 for a in articles], dtype=float),
        weights=weights,
    )


class BodyCosines:
    """Cosines of pairs of articles' whole bodies, words weighed by the title+lead IDF.

    Only the second look asks, and only about a few pairs, so a body is read when first asked
    for: tokenizing every body would cost more than all the rest of clustering.
    """

    def __init__(self, articles: Sequence[Article], weights: TfidfVectorizer | None) -> None:
        self.articles = articles
        self.weights = weights
        self.rows: dict[int, sparse.csr_matrix] = {}

    def __call__(self, pairs: Sequence[tuple[int, int]]) -> list[float]:
        if self.weights is None:
            return [0.0] * len(pairs)
        self._read({i for pair in pairs for i in pair} - self.rows.keys())
        return [float(self.rows[i].multiply(self.rows[j]).sum()) for i, j in pairs]

    def _read(self, items: set[int]) -> None:
        """Vectors of the bodies not read yet, in one call (each call has a fixed cost)."""
        if not items or self.weights is None:
            return
        order = sorted(items)
        bodies = [content_tokens(body_of(self.articles[i])) for i in order]
        matrix = self.weights.transform(bodies).tocsr()
        for row, item in enumerate(order):
            self.rows[item] = matrix[row]


# --- candidate pairs -----------------------------------------------------------------------


def candidate_edges(features: Features, settings: Cluster) -> dict[tuple[int, int], float]:
    """Cosine of pairs (i < j) among time neighbours, each article keeping its top neighbours.

    Rows are taken in time order, a block at a time, and multiplied only with the rows inside
    the time window around the block (a sparse product is an inverted-index lookup): the cost
    grows with articles x window density, never with all pairs.
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
            keep &= np.abs(hours[cols] - hours[i]) <= window
            cols, sims = cols[keep], sims[keep]
            if len(sims) > settings.neighbours:
                top = np.argpartition(-sims, settings.neighbours)[: settings.neighbours]
                cols, sims = cols[top], sims[top]
            a = int(order[i])
            for j, sim in zip(order[cols].tolist(), sims.tolist(), strict=True):
                edges[(a, j) if a < j else (j, a)] = sim
    return edges


# --- centroid linkage ----------------------------------------------------------------------


def _row_dict(matrix: sparse.csr_matrix, i: int) -> dict[int, float]:
    begin, end = matrix.indptr[i], matrix.indptr[i + 1]
    return dict(
        zip(matrix.indices[begin:end].tolist(), matrix.data[begin:end].tolist(), strict=True)
    )


class _Centroids:
    """Summed vectors of the current groups, as dicts: cheap to add and to compare."""

    def __init__(self, matrix: sparse.csr_matrix) -> None:
        self.vectors = [_row_dict(matrix, i) for i in range(matrix.shape[0])]
        self.norms = [math.sqrt(sum(v * v for v in d.values())) for d in self.vectors]

    def add(self, into: int, other: int) -> None:
        target = self.vectors[into]
        for term, value in self.vectors[other].items():
            target[term] = target.get(term, 0.0) + value
        self.vectors[other] = {}
        self.norms[into] = math.sqrt(sum(v * v for v in target.values()))

    def cosine(self, a: int, b: int) -> float:
        x, y = self.vectors[a], self.vectors[b]
        if len(x) > len(y):
            x, y = y, x
        dot = sum(value * y.get(term, 0.0) for term, value in x.items())
        norms = self.norms[a] * self.norms[b]
        return dot / norms if norms else 0.0


class _Groups:
    """The groups being merged: union-find over articles, with each group's summed vector,
    its size and its candidate neighbours."""

    def __init__(self, vectors: sparse.csr_matrix, edges: Mapping[tuple[int, int], float]) -> None:
        n = vectors.shape[0]
        self.parent = list(range(n))
        self.version = [0] * n  # bumped on every merge: older heap entries are stale
        self.size = [1] * n
        self.neighbours: list[set[int]] = [set() for _ in range(n)]
        for i, j in edges:
            self.neighbours[i].add(j)
            self.neighbours[j].add(i)
        self.centroids = _Centroids(vectors)

    def root(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def merge(self, a: int, b: int) -> None:
        self.parent[b] = a
        self.version[a] += 1
        self.size[a] += self.size[b]
        self.centroids.add(a, b)
        self.neighbours[a] |= self.neighbours[b]
        self.neighbours[b] = set()

    def neighbouring_roots(self, a: int) -> set[int]:
        return {self.root(c) for c in self.neighbours[a]} - {a}

    def labels(self) -> list[int]:
        return [self.root(i) for i in range(len(self.parent))]


def centroid_linkage(
    vectors: sparse.csr_matrix,
    edges: Mapping[tuple[int, int], float],
    threshold: float,
    groups: Sequence[Sequence[int]] = (),
    pair_threshold: float | None = None,
    agree: Callable[[list[tuple[int, int]]], list[bool]] | None = None,
) -> list[int]:
    """Cluster label per item: merge the closest neighbouring groups (cosine of centroids)
    while that cosine is >= threshold; then pair lone items at `pair_threshold` where
    `agree` says so (see `_pair_lone_items`; None or >= threshold: no second look).

    Only groups linked by a candidate edge are compared. `groups` (earlier runs' stories)
    start merged, and merge further like any group.
    """
    state = _Groups(vectors, edges)
    for group in groups:
        for other in group[1:]:
            a, b = state.root(group[0]), state.root(other)
            if a != b:
                state.merge(a, b)
    _merge_above(state, edges, threshold)
    if pair_threshold is not None and pair_threshold < threshold:
        _pair_lone_items(state, pair_threshold, agree or (lambda pairs: [True] * len(pairs)))
    return state.labels()


def _merge_above(state: _Groups, edges: Mapping[tuple[int, int], float], threshold: float) -> None:
    """Agglomerate: the neighbouring pair of groups with the highest centroid cosine first."""
    heap: list[tuple[float, int, int, int, int]] = []

    def push(a: int, b: int, similarity: float | None = None) -> None:
        if similarity is None:
            similarity = state.centroids.cosine(a, b)
        if similarity >= threshold:
            heapq.heappush(heap, (-similarity, a, b, state.version[a], state.version[b]))

    parent, version = state.parent, state.version
    for (i, j), similarity in edges.items():
        a, b = state.root(i), state.root(j)
        if a == i and b == j and version[a] == version[b] == 0:
            push(a, b, similarity)  # two lone articles: their centroid cosine is the edge
        elif a != b:
            push(a, b)
    while heap:
        _, a, b, version_a, version_b = heapq.heappop(heap)
        if parent[a] != a or parent[b] != b or version[a] != version_a or version[b] != version_b:
            continue  # stale: one side changed since this entry was pushed
        state.merge(a, b)
        current = state.neighbouring_roots(a)
        state.neighbours[a] = current
        for c in current:
            push(a, c)


def _best_match(state: _Groups, a: int) -> tuple[int, float]:
    """The neighbouring group whose centroid is closest to group `a`, and that cosine."""
    best, best_similarity = -1, -1.0
    for c in sorted(state.neighbouring_roots(a)):
        similarity = state.centroids.cosine(a, c)
        if similarity > best_similarity:
            best, best_similarity = c, similarity
    return best, best_similarity


def _pair_lone_items(
    state: _Groups,
    pair_threshold: float,
    agree: Callable[[list[tuple[int, int]]], list[bool]],
) -> None:
    """Second look: two items still alone that are each other's best match merge at a lower
    cosine than the threshold, where `agree` (asked once, about all such pairs) says so too.

    Two reports of one small event (a statement, a ruling) share its few names but little
    else, so their cosine often falls just under the threshold; lowering the threshold for
    everyone instead chains topic neighbours into large wrong stories. Requiring both items
    to be alone and each other's first choice keeps the lower bar away from those chains.
    """
    lone = [a for a in range(len(state.parent)) if state.parent[a] == a and state.size[a] == 1]
    best = {a: _best_match(state, a) for a in lone}
    pairs = []
    for a in lone:
        partner, similarity = best[a]
        if partner < a or similarity < pair_threshold:  # each pair once; -1: no neighbour
            continue
        mutual = partner in best and best[partner][0] == a
        if mutual:
            pairs.append((a, partner))
    for (a, partner), agreed in zip(pairs, agree(pairs), strict=True):
        if agreed:
            state.merge(a, partner)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Features and candidate pairs: everything before the threshold is applied."""

    articles: Sequence[Article]
    features: Features
    edges: dict[tuple[int, int], float]
    bodies: BodyCosines


def prepare(articles: Sequence[Article], settings: Cluster) -> Prepared:
    features = build_features(articles, settings)
    edges = candidate_edges(features, settings)
    return Prepared(articles, features, edges, BodyCosines(articles, features.weights))


def link(
    prepared: Prepared,
    settings: Cluster,
    threshold: float | None = None,
    groups: Sequence[Sequence[int]] = (),
    pair_threshold: float | None = None,
    pair_body: float | None = None,
) -> list[int]:
    """Cluster labels at `threshold`, `pair_threshold` and `pair_body` (default: the
    configured ones)."""
    threshold = settings.threshold if threshold is None else threshold
    pair_threshold = settings.pair_threshold if pair_threshold is None else pair_threshold
    body_floor = settings.pair_body if pair_body is None else pair_body

    articles = prepared.articles

    def second_look_agrees(pairs: list[tuple[int, int]]) -> list[bool]:
        # Two sources, not one: one site's two articles that are each other's best match are
        # mostly its running coverage of a topic (a day's market reports, a tournament's
        # matches), while two reports of one small event come from two sites.
        apart = [(i, j) for i, j in pairs if _other_sources(articles[i], articles[j])]
        cosines = dict(zip(apart, prepared.bodies(apart), strict=True))
        return [pair in cosines and cosines[pair] >= body_floor for pair in pairs]

    return centroid_linkage(
        prepared.features.vectors,
        prepared.edges,
        threshold,
        groups,
        pair_threshold,
        second_look_agrees,
    )


def _other_sources(a: Article, b: Article) -> bool:
    """True unless both articles are known to come from the same source."""
    return not (a.source and a.source == b.source)


def cluster_labels(articles: Sequence[Article], settings: Cluster) -> list[int]:
    """One label per article (no earlier runs): the core used by evaluation and benchmarks."""
    if not articles:
        return []
    return link(prepare(articles, settings), settings)


# --- the contract --------------------------------------------------------------------------


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
    if not unique:
        return {}
    prepared = prepare(unique, settings)
    labels = link(prepared, settings, None, groups)
    story_of_root: dict[int, str] = {}
    first_of: dict[str, tuple] = {}
    for story, group in by_story.items():
        first_of[story] = min((unique[i].published, unique[i].id) for i in group)
    for story, group in sorted(by_story.items(), key=lambda item: first_of[item[0]], reverse=True):
        story_of_root[labels[group[0]]] = story  # the oldest story's id wins a merge
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
                    f"line {number}: not valid JSON ({exc.msg})", hint=f"in {path}"
                ) from exc
            if not isinstance(record, dict):
                raise ClusterInputError(f"line {number}: expected a JSON object", hint=f"in {path}")
            articles.append(article_from_record(record, number))
    return articles


def cluster_jsonl(input_path: Path, output_path: Path, settings: Cluster | None = None) -> int:
    """`briefing cluster --input ARTICLES.jsonl --output STORIES.jsonl`; returns lines written."""
    articles = read_articles_jsonl(Path(input_path))
    stories = assign_stories(articles, {}, settings or Cluster())
    lines = [json.dumps({"id": a.id, "story": stories[a.id]}, ensure_ascii=False) for a in articles]
    Path(output_path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)
