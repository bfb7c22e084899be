"""Scoring a clustering against gold same-story labels, and the baselines it must beat.

Scores: B-cubed precision/recall/F1 (per article, averaged) and pairwise precision/recall/F1
(over all pairs put together). Baselines: exact normalized title match, MinHash LSH
near-duplicate grouping (the "85% overlap" rule of feed readers), single-pass TF-IDF threshold
clustering. Thresholds are validated by cross-validation inside the labelled set: folds are
whole gold stories, and every article is scored under the threshold chosen on the other folds.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from datasketch import MinHash, MinHashLSH
from sklearn.feature_extraction.text import TfidfVectorizer

from briefing.arabic import content_tokens, tokenize
from briefing.cluster import article_from_record, lead_of, link, prepare
from briefing.components import connected_labels
from briefing.config import Cluster
from briefing.models import Article, Story

DEV_LABELS = "labels/dev-2018-04-01_02.json"
APRIL_WINDOW = "ant_multisource/feed_window_2018-04-01_07.jsonl"

# A clustering of ours is keyed by (threshold, pair threshold, pair body); a pair threshold
# equal to the threshold means no second look.
Setting = tuple[float, float, float]
Key = TypeVar("Key", float, Setting)  # what a candidate clustering is keyed by


# --- locating and loading the shared data --------------------------------------------------


def load_window(path: Path) -> list[Article]:
    """ANT feed-window articles, as Articles, in publication order."""
    with path.open(encoding="utf-8") as handle:
        articles = [
            article_from_record(json.loads(line), n)
            for n, line in enumerate(handle, 1)
            if line.strip()
        ]
    return sorted(articles, key=lambda a: (a.published, a.id))


def labelled_stories(data: Path) -> list[Story]:
    """The dev labels' stories of two articles or more, articles in the labels' order."""
    with (data / APRIL_WINDOW).open(encoding="utf-8") as lines:
        rows = {row["docno"]: row for row in map(json.loads, lines)}
    labels = json.loads((data / DEV_LABELS).read_text(encoding="utf-8"))
    return [
        Story(
            id=s["story"],
            section="news",
            articles=tuple(article_from_record(rows[d], 0) for d in s["docnos"]),
        )
        for s in labels["stories"]
        if len(s["docnos"]) > 1
    ]


def load_dev_labels(data: Path) -> tuple[list[Article], dict[str, str]]:
    """The labelled April articles in publication order, and docno -> gold story."""
    labels = json.loads((data / DEV_LABELS).read_text(encoding="utf-8"))
    gold = {docno: s["story"] for s in labels["stories"] for docno in s["docnos"]}
    articles = [a for a in load_window(data / APRIL_WINDOW) if a.id in gold]
    return articles, gold


# --- scores ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scores:
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float

    def as_dict(self) -> dict[str, float]:
        return {name: round(getattr(self, name), 4) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class _ItemCounts:
    """One article's view: predicted cluster size, gold cluster size, their overlap."""

    predicted: int
    gold: int
    overlap: int


def _item_counts(predicted: Sequence[object], gold: Sequence[object]) -> list[_ItemCounts]:
    pred_size = Counter(predicted)
    gold_size = Counter(gold)
    both = Counter(zip(predicted, gold, strict=True))
    return [
        _ItemCounts(pred_size[p], gold_size[g], both[(p, g)])
        for p, g in zip(predicted, gold, strict=True)
    ]


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _scores_from_counts(counts: Sequence[_ItemCounts]) -> Scores:
    n = len(counts)
    bp = sum(c.overlap / c.predicted for c in counts) / n
    br = sum(c.overlap / c.gold for c in counts) / n
    # Pairs anchored at each item: every unordered pair is counted twice on each side.
    true_pairs = sum(c.overlap - 1 for c in counts)
    predicted_pairs = sum(c.predicted - 1 for c in counts)
    gold_pairs = sum(c.gold - 1 for c in counts)
    pp = true_pairs / predicted_pairs if predicted_pairs else 1.0
    pr = true_pairs / gold_pairs if gold_pairs else 1.0
    return Scores(bp, br, _f1(bp, br), pp, pr, _f1(pp, pr))


def score(predicted: Sequence[object], gold: Sequence[object]) -> Scores:
    """B-cubed and pairwise scores of one clustering; both lists give one label per item."""
    if len(predicted) != len(gold) or not gold:
        raise ValueError("predicted and gold need one label per item, and at least one item")
    return _scores_from_counts(_item_counts(predicted, gold))


# --- cross-validated thresholds -------------------------------------------------------------


def story_folds(gold: Sequence[str], folds: int = 5, seed: int = 13) -> list[int]:
    """A fold number per item; whole gold stories go to one fold."""
    stories = sorted(set(gold))
    random.Random(seed).shuffle(stories)
    fold_of = {story: i % folds for i, story in enumerate(stories)}
    return [fold_of[g] for g in gold]


def objective(scores: Scores) -> float:
    """What threshold selection maximizes: both F1s, with precision weighed in again."""
    return (scores.bcubed_f1 + scores.pairwise_f1 + scores.bcubed_precision) / 3


@dataclass(frozen=True, slots=True)
class CrossValidated:
    scores: Scores
    thresholds: tuple[float, ...]  # chosen per fold
    second_looks: tuple[tuple[float, float], ...] = ()  # (pair threshold, pair body) per fold


def _split(fold_of: Sequence[int], fold: int) -> tuple[list[int], list[int]]:
    train = [i for i, f in enumerate(fold_of) if f != fold]
    test = [i for i, f in enumerate(fold_of) if f == fold]
    return train, test


def _best_on(
    candidates: Sequence[Key], counts: Mapping[Key, Sequence[_ItemCounts]], train: Sequence[int]
) -> Key:
    """The candidate with the best objective on the training items; a tie goes to the first."""
    return max(
        candidates, key=lambda c: objective(_scores_from_counts([counts[c][i] for i in train]))
    )


def cross_validate(
    labelings: Mapping[float, Sequence[object]],
    gold: Sequence[str],
    folds: int = 5,
    seed: int = 13,
) -> CrossValidated:
    """Score items under thresholds chosen without their own story's labels.

    `labelings` maps each candidate threshold to the clustering of all items at it (clustering
    uses no labels, so it runs once on everything); only the choice of threshold sees labels.
    A tie goes to the lower threshold.
    """
    fold_of = story_folds(gold, folds, seed)
    counts = {t: _item_counts(labels, gold) for t, labels in labelings.items()}
    chosen: list[float] = []
    held_out: list[_ItemCounts] = []
    for fold in range(folds):
        train, test = _split(fold_of, fold)
        best = _best_on(sorted(counts), counts, train)
        chosen.append(best)
        held_out.extend(counts[best][i] for i in test)
    return CrossValidated(_scores_from_counts(held_out), tuple(chosen))


def cross_validate_staged(
    labelings: Mapping[Setting, Sequence[object]],
    gold: Sequence[str],
    folds: int = 5,
    seed: int = 13,
) -> CrossValidated:
    """Like `cross_validate`, for our clusterings keyed by (threshold, pair threshold, pair
    body).

    Each fold chooses in two stages on its training stories: the threshold with the second
    look off (exactly as `cross_validate` does), then the second look's settings at that
    threshold (a tie goes to fewer merges: the higher pair threshold, then the higher pair
    body). Choosing all at once lets a fold trade the threshold against the second look on
    one chained merge of its training stories, which then shatters a large held-out story
    (seen on the dev labels; see docs/clustering.md).
    """
    fold_of = story_folds(gold, folds, seed)
    counts = {key: _item_counts(labels, gold) for key, labels in labelings.items()}
    plain = sorted(key for key in counts if key[1] == key[0])
    chosen: list[Setting] = []
    held_out: list[_ItemCounts] = []
    for fold in range(folds):
        train, test = _split(fold_of, fold)
        threshold = _best_on(plain, counts, train)[0]
        at_threshold = sorted((key for key in counts if key[0] == threshold), reverse=True)
        best = _best_on(at_threshold, counts, train)
        chosen.append(best)
        held_out.extend(counts[best][i] for i in test)
    return CrossValidated(
        _scores_from_counts(held_out),
        tuple(threshold for threshold, _, _ in chosen),
        tuple((pair, body) for _, pair, body in chosen),
    )


# --- baselines ------------------------------------------------------------------------------

_PUNCTUATION = re.compile(r"[^\w\s]|_")


def exact_title_clusters(articles: Sequence[Article]) -> list[str]:
    """Articles whose normalized titles are identical share a cluster."""
    return [" ".join(tokenize(_PUNCTUATION.sub(" ", a.title))) or a.id for a in articles]


def _shingles(article: Article, size: int = 3) -> set[str]:
    words = tokenize(article.title + " " + article.text)
    if len(words) < size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def minhash_signatures(articles: Sequence[Article], num_perm: int = 128) -> list[MinHash]:
    signatures = []
    for article in articles:
        signature = MinHash(num_perm=num_perm, seed=1)
        signature.update_batch([s.encode("utf-8") for s in _shingles(article)])
        signatures.append(signature)
    return signatures


def minhash_clusters(
    articles: Sequence[Article], threshold: float = 0.85, signatures: list[MinHash] | None = None
) -> list[int]:
    """Near-duplicate grouping: LSH candidates with estimated shingle Jaccard >= threshold,
    joined transitively."""
    signatures = signatures or minhash_signatures(articles)
    lsh = MinHashLSH(threshold=threshold, num_perm=len(signatures[0].hashvalues))
    for i, signature in enumerate(signatures):
        lsh.insert(str(i), signature)
    pairs = [
        (i, int(key))
        for i, signature in enumerate(signatures)
        for key in lsh.query(signature)
        if signature.jaccard(signatures[int(key)]) >= threshold
    ]
    return connected_labels(len(articles), [i for i, _ in pairs], [j for _, j in pairs])


def title_lead_tfidf(articles: Sequence[Article]) -> np.ndarray:
    """Plain title+lead word TF-IDF (stemmed), rows L2-normalized, as a dense array."""
    docs = [content_tokens(a.title + " " + lead_of(a)) for a in articles]
    vectorizer = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True)
    return vectorizer.fit_transform(docs).toarray()


def single_pass_clusters(
    articles: Sequence[Article], threshold: float, vectors: np.ndarray | None = None
) -> list[int]:
    """In publication order, join the most similar cluster centroid if cosine >= threshold."""
    vectors = title_lead_tfidf(articles) if vectors is None else vectors
    centroids = np.zeros_like(vectors)  # one row per cluster, first `count` rows in use
    norms = np.zeros(len(vectors))
    count = 0
    labels: list[int] = []
    for vector in vectors:
        if count:
            terms = np.flatnonzero(vector)  # only the article's own terms can add to a dot
            dots = centroids[:count, terms] @ vector[terms]
            sims = dots / np.where(norms[:count] == 0, 1.0, norms[:count])
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                centroids[best] += vector
                norms[best] = np.linalg.norm(centroids[best])
                labels.append(best)
                continue
        centroids[count] = vector
        norms[count] = np.linalg.norm(vector)
        labels.append(count)
        count += 1
    return labels


def all_pairs_clusters(articles: Sequence[Article], threshold: float) -> list[int]:
    """The naive reference for speed: every pair compared (dense), joined transitively."""
    vectors = title_lead_tfidf(articles)
    sims = vectors @ vectors.T
    rows, cols = np.nonzero(np.triu(sims, k=1) >= threshold)
    return connected_labels(len(articles), rows.tolist(), cols.tolist())


def labelings_over(
    thresholds: Sequence[float], cluster: Callable[[float], Sequence[object]]
) -> dict[float, Sequence[object]]:
    return {round(float(t), 4): cluster(t) for t in thresholds}


def gold_groups(gold: Mapping[str, str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for docno, story in gold.items():
        groups[story].append(docno)
    return dict(groups)


# --- cross-validating our method ------------------------------------------------------------


def method_labelings(
    articles: Sequence[Article],
    settings: Cluster,
    thresholds: Sequence[float],
    second_looks: Sequence[tuple[float, float]] | None = None,
) -> dict[Setting, list[int]]:
    """Our clustering at each threshold, without and with each (pair threshold, pair body)
    second look below it (default: the configured one; an empty list: none); features and
    candidates are built once."""
    prepared = prepare(articles, settings)
    configured = [(settings.pair_threshold, settings.pair_body)]
    looks = configured if second_looks is None else second_looks
    labelings: dict[Setting, list[int]] = {}
    for threshold in (round(float(t), 4) for t in thresholds):
        labelings[(threshold, threshold, 0.0)] = link(
            prepared, settings, threshold, pair_threshold=threshold
        )
        for pair, body in looks:
            if pair < threshold:
                labelings[(threshold, pair, body)] = link(
                    prepared, settings, threshold, pair_threshold=pair, pair_body=body
                )
    return labelings


def cross_validate_method(
    articles: Sequence[Article],
    gold: Sequence[str],
    settings: Cluster,
    thresholds: Sequence[float],
    folds: int = 5,
    seed: int = 13,
    second_looks: Sequence[tuple[float, float]] | None = None,
) -> CrossValidated:
    """Our clustering cross-validated in two stages (`cross_validate_staged`) over
    `method_labelings`."""
    labelings = method_labelings(articles, settings, thresholds, second_looks)
    return cross_validate_staged(labelings, gold, folds, seed)
