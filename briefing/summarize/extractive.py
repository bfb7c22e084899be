"""Extractive summaries: key sentences of one article, or of a story told by several sources.

Each sentence gets a score from what is known to work for news (weights chosen on EASC dev,
see docs/extractive.md):
- position: the lead carries the news (and the first sentence of a paragraph its topic);
- centrality: each sentence's summed TF-IDF cosine similarity to the others (LexRank's
  degree centrality), on the shared normalizer and light stems;
- similarity to the title, when there is one;
- length: very short fragments and run-on blocks are pushed down.
Sentences are then taken greedily in order of merit (MMR is available, score minus
similarity to what is already taken, but its weight chosen on dev is 0), never taking one
that repeats a taken sentence, until the budget is met. For a story, near-duplicate sentences
across sources are first merged into one (the best-formed one is kept, and every source that
carried it is remembered), and another source's retelling of a taken sentence is not taken
but credits its source.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from briefing.arabic import content_tokens, stem
from briefing.arabic.sentences import split_paragraphs, without_dateline
from briefing.arabic.tokens import stopwords, tokenize_many
from briefing.components import connected_labels
from briefing.errors import BriefingError
from briefing.models import Article, KeySentence, Story

DEFAULT_SENTENCES = 3
# Very long inputs: only the first sentences are scored (the lead carries news, and the
# similarity graph grows with the square of the count). A story shares its bound among its
# articles: each gives its leading sentences.
MAX_SENTENCES = 300
MAX_STORY_SENTENCES = 1200
# A "sentence" longer than this (text without punctuation) is cut into windows of WINDOW_WORDS.
MAX_SENTENCE_WORDS = 120
WINDOW_WORDS = 60
_TERMINATORS = ".!?؟؛\"'”»)"
# Above this many sentence-by-word cells the similarity product goes sparse.
_DENSE_CELLS = 200_000


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each feature counts; the defaults were chosen on EASC dev (docs/extractive.md)."""

    position: float = 1.0
    position_decay: float = 0.3  # position score is 1 / (1 + index) ** decay
    paragraph_start: float = 0.0
    centrality: float = 0.1
    title: float = 0.3  # not tuned: EASC has no titles
    length: float = 0.2
    first_report: float = 0.1  # story mode: bonus for the earliest article, less for later
    redundancy: float = 0.0  # MMR: the score is lowered by this times the top similarity
    duplicate: float = 0.6  # cosine at or above which two sentences say the same thing
    contained: float = 0.65  # share of the shorter one's words above which one repeats another
    # The same between sentences of different articles: another source retells a fact in its
    # own words, so fewer words are shared (chosen on the labelled stories, docs/extractive.md).
    retold: float = 0.5
    short_words: int = 5
    long_words: int = 60


DEFAULT_WEIGHTS = Weights()


@dataclass(slots=True)
class Candidate:
    """One sentence that may be picked, with where it came from. Never changed once built.

    Not frozen: a frozen dataclass sets each field through object.__setattr__, which made
    building the candidates of an article 7x slower (and summaries must be fast).
    """

    text: str  # as published
    article: int  # index of the article in the story (0 for a single text)
    index: int  # sentence index inside its article
    paragraph_start: bool
    words: int
    word_list: list[str]  # the text split on white space (its tokens are worked out per word)


@dataclass(frozen=True, slots=True)
class Graph:
    """How the candidate sentences relate: TF-IDF cosine between them, the share of the
    smaller one's words that two sentences share, and cosine to the title."""

    similarity: np.ndarray
    contained: np.ndarray
    title: np.ndarray

    def subset(self, rows: list[int]) -> Graph:
        grid = np.ix_(rows, rows)
        return Graph(self.similarity[grid], self.contained[grid], self.title[rows])


class SummarizeInputError(BriefingError):
    """A line of a `briefing summarize` input file cannot be used; names the line."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        self.path = path
        self.line = line
        super().__init__(
            f"{path}:{line}: {problem}",
            hint='each line must be a JSON object with "id" and "text" '
            '(optional "title", and "words" or "sentences")',
        )


def summarize_text(
    text: str,
    title: str | None = None,
    *,
    sentences: int | None = None,
    words: int | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[str]:
    """Key sentences of one text, in the order they were published.

    The budget is `sentences` sentences and/or about `words` words (sentences are added in
    order of merit until the count is reached; the last one may go over). With neither,
    DEFAULT_SENTENCES sentences. Empty text gives an empty list.
    """
    candidates = candidates_of(text)
    if not candidates:
        return []
    chosen = select(candidates, title, sentences=sentences, words=words, weights=weights)
    return [candidates[i].text for i in sorted(chosen)]


def rank_text(text: str, title: str | None = None, weights: Weights = DEFAULT_WEIGHTS) -> list[str]:
    """All candidate sentences of `text` from best to worst (for benchmarks and tuning)."""
    candidates = candidates_of(text)
    order = select(candidates, title, sentences=len(candidates), words=None, weights=weights)
    return [candidates[i].text for i in order]


def summarize_story(
    story: Story,
    *,
    sentences: int | None = DEFAULT_SENTENCES,
    words: int | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
) -> tuple[KeySentence, ...]:
    """Key sentences of a story across all its articles, near-duplicates merged.

    Each KeySentence names the article its text was taken from and every source that
    carried the same sentence or retold it. The result reads leads first: by position inside
    its article (a story's opening sentences before the ones that go on, "وأضاف ..."), then
    by publication (earliest article first).
    """
    articles = sorted(story.articles, key=lambda a: (a.published, a.id))[:MAX_STORY_SENTENCES]
    # The leading sentences of each article (where news is told), so that a huge story keeps
    # the similarity graph bounded.
    per_article = max(1, MAX_STORY_SENTENCES // max(1, len(articles)))
    candidates: list[Candidate] = []
    for number, article in enumerate(articles):
        candidates.extend(candidates_of(article_text(article), article=number)[:per_article])
    if not candidates:
        return ()
    graph = sentence_graph(candidates, story.headline)
    groups = merge_duplicates(graph.similarity, weights.duplicate)
    representatives = [best_formed(candidates, group, articles) for group in groups]
    merged = [candidates[i] for i in representatives]
    support = [len({candidates[i].article for i in group}) for group in groups]
    chosen = select(
        merged,
        story.headline,
        sentences=sentences,
        words=words,
        weights=weights,
        support=support,
        graph=graph.subset(representatives),
    )
    chosen.sort(key=lambda i: (merged[i].index, merged[i].article))
    source_order = {name: rank for rank, name in enumerate(story.sources)}
    result = []
    for i in chosen:
        told = [*groups[i], *_retellings(representatives[i], candidates, graph, weights)]
        sources = {articles[candidates[j].article].source for j in told}
        result.append(
            KeySentence(
                text=merged[i].text,
                article_id=articles[merged[i].article].id,
                sources=tuple(sorted(sources, key=lambda s: source_order.get(s, len(sources)))),
            )
        )
    return tuple(result)


def _retellings(
    row: int, candidates: Sequence[Candidate], graph: Graph, weights: Weights
) -> list[int]:
    """The sentences of other articles that retell candidate `row` (select() would not take
    one beside it): their sources carried its news too."""
    similar, contained = graph.similarity[row].tolist(), graph.contained[row].tolist()
    article = candidates[row].article
    return [
        j
        for j, other in enumerate(candidates)
        if other.article != article
        and (similar[j] >= weights.duplicate or contained[j] >= weights.retold)
    ]


def summarize_jsonl(
    input_path: Path,
    output_path: Path,
    *,
    sentences: int | None = None,
    words: int | None = None,
) -> int:
    """`briefing summarize`: one {"id", "summary"} line out for each {"id", "text"} line in.

    A line may carry its own "title" and its own budget ("words" or "sentences"), which wins
    over the command's. Blank lines are skipped. Every line is checked before anything is
    written, so a bad line leaves no half-written output. Returns the number of lines written.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    try:
        lines = input_path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BriefingError(f"cannot read {input_path}: {exc}") from exc
    jobs = [
        _parse_line(input_path, number, line)
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]
    output = []
    for job in jobs:
        budget_sentences = job.get("sentences", sentences if "words" not in job else None)
        budget_words = job.get("words", words if "sentences" not in job else None)
        summary = summarize_text(
            job["text"], job.get("title"), sentences=budget_sentences, words=budget_words
        )
        record = {"id": job["id"], "summary": " ".join(summary)}
        output.append(json.dumps(record, ensure_ascii=False))
    try:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        output_path.write_text("".join(f"{line}\n" for line in output), encoding="utf-8")
    except OSError as exc:
        raise BriefingError(f"cannot write {output_path}: {exc}") from exc
    return len(output)


def _parse_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SummarizeInputError(path, number, f"not valid JSON ({exc.msg})") from exc
    if not isinstance(record, dict):
        raise SummarizeInputError(path, number, "expected a JSON object")
    if "id" not in record or not isinstance(record["id"], str | int):
        raise SummarizeInputError(path, number, '"id" is missing or not a string or number')
    if not isinstance(record.get("text"), str):
        raise SummarizeInputError(path, number, '"text" is missing or not a string')
    if record.get("title") is not None and not isinstance(record["title"], str):
        raise SummarizeInputError(path, number, '"title" must be a string')
    if "words" in record and "sentences" in record:
        raise SummarizeInputError(path, number, 'give "words" or "sentences", not both')
    for key in ("words", "sentences"):
        value = record.get(key)
        if key in record and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise SummarizeInputError(path, number, f'"{key}" must be a whole number above 0')
    return record


def article_text(article: Article) -> str:
    """The text to summarize: the body, or the feed description when there is no body,
    from where its news starts (a key sentence never opens with "دبي، الإمارات العربية
    المتحدة (CNN) --": the sources line names CNN)."""
    return without_dateline(article.text if article.text.strip() else article.description)


def candidates_of(text: str, article: int = 0) -> list[Candidate]:
    """Sentences of `text` that can be picked, with their words (bounded for huge inputs)."""
    pieces: list[tuple[str, list[str], bool]] = []  # text, its words, starts a paragraph
    for paragraph in split_paragraphs(text):
        starts = True
        for sentence in paragraph:
            words = sentence.split()
            if len(words) <= MAX_SENTENCE_WORDS:
                pieces.append((sentence, words, starts))
            else:
                pieces.extend((piece, window, starts) for piece, window in _windows(words))
            starts = False
        if len(pieces) >= MAX_SENTENCES:
            break
    return [
        Candidate(piece, article, index, first, len(words), words)
        for index, (piece, words, first) in enumerate(pieces[:MAX_SENTENCES])
    ]


def _content_stems(candidates: Sequence[Candidate]) -> tuple[np.ndarray, np.ndarray]:
    """The `content_tokens` of all candidates as two arrays: the candidate each one comes
    from, and the id of its stem.

    Tokens never span white space, and normalize() never joins two words, so the content
    stems of a sentence are those of its words in turn; each distinct word is worked out
    once and remembered. News repeats its vocabulary, so after a few articles almost every
    word is known, and the words of all candidates are looked up in one pass, straight
    into an array (summaries must be fast, and tokens were most of their time).
    """
    words = list(chain.from_iterable(candidate.word_list for candidate in candidates))
    codes = _word_codes(words)
    rows = np.repeat(np.arange(len(candidates)), [c.words for c in candidates])
    single = codes >= 0
    token_rows, stem_ids = rows[single], codes[single]
    several = np.flatnonzero(codes == _SEVERAL_STEMS)
    if several.size:
        # Rare ("10،000", "6رموز"): these words are expanded one by one.
        extra = [(rows[i], stem) for i in several.tolist() for stem in _WORD_STEMS[words[i]]]
        token_rows = np.concatenate([token_rows, [row for row, _ in extra]])
        stem_ids = np.concatenate([stem_ids, [stem for _, stem in extra]])
    return token_rows, stem_ids


def _word_codes(words: list[str]) -> np.ndarray:
    """For each word: the id of its one content stem, _NO_STEM or _SEVERAL_STEMS."""
    try:
        # Fast path, all in C: every word already known.
        return np.fromiter(map(_WORD_CODES.__getitem__, words), np.int64, len(words))
    except KeyError:
        distinct = dict.fromkeys(words)
        if len(_WORD_CODES) + len(distinct) > _WORD_CACHE:
            # Ids are only compared inside one call: starting afresh keeps memory bounded.
            # Cleared before choosing what to learn, so this text's known words are relearned.
            _WORD_CODES.clear()
            _WORD_STEMS.clear()
            _STEM_IDS.clear()
        _learn([word for word in distinct if word not in _WORD_CODES])
        return np.fromiter(map(_WORD_CODES.__getitem__, words), np.int64, len(words))


def _learn(new_words: list[str]) -> None:
    """Work out the content stems of words not seen before, normalizing them in one pass,
    and remember them."""
    stop = stopwords()
    for word, tokens in zip(new_words, tokenize_many(new_words), strict=True):
        # As content_tokens(): no stop words, no one-letter words (but digits), stemmed.
        content = (t for t in tokens if t not in stop and (len(t) > 1 or t.isdigit()))
        stems = tuple(_STEM_IDS.setdefault(stem(token), len(_STEM_IDS)) for token in content)
        if len(stems) == 1:
            _WORD_CODES[word] = stems[0]
        else:
            _WORD_CODES[word] = _NO_STEM if not stems else _SEVERAL_STEMS
            _WORD_STEMS[word] = stems


# Published word -> the id of its content stem (one for almost every word; _NO_STEM for a
# stop word or punctuation; _SEVERAL_STEMS, then the ids are in _WORD_STEMS).
_WORD_CODES: dict[str, int] = {}
_WORD_STEMS: dict[str, tuple[int, ...]] = {}
_STEM_IDS: dict[str, int] = {}  # content stem -> its id
_NO_STEM = -1
_SEVERAL_STEMS = -2
_WORD_CACHE = 500_000


def _windows(words: list[str]) -> list[tuple[str, list[str]]]:
    """A sentence that runs on (a text without punctuation) cut into windows of
    WINDOW_WORDS words, each with its words."""
    windows = (words[i : i + WINDOW_WORDS] for i in range(0, len(words), WINDOW_WORDS))
    return [(" ".join(window), window) for window in windows]


def select(
    candidates: Sequence[Candidate],
    title: str | None,
    *,
    sentences: int | None,
    words: int | None,
    weights: Weights = DEFAULT_WEIGHTS,
    support: Sequence[int] | None = None,
    graph: Graph | None = None,
) -> list[int]:
    """Indices of the chosen candidates, in the order they were chosen (best first).

    `graph` may be passed when already computed.
    """
    if not candidates:
        return []
    if sentences is None and words is None:
        sentences = DEFAULT_SENTENCES
    if (sentences is not None and sentences < 1) or (words is not None and words < 1):
        raise ValueError(
            f"a summary budget must be positive (sentences={sentences}, words={words})"
        )
    graph = graph or sentence_graph(candidates, title)
    scores = _scores(candidates, graph.similarity, graph.title, weights, support)
    # Plain Python lists: a story has tens of sentences, and numpy's per-call overhead
    # dominated this loop at that size.
    redundancy = weights.redundancy
    top_similarity = [0.0] * len(candidates)

    def merit(i: int) -> float:
        return scores[i] - redundancy * top_similarity[i]

    if redundancy:
        available = list(range(len(candidates)))  # in index order: ties go to the first
    else:
        # Without a redundancy penalty the merit is the score itself (x - 0.0 * y == x) and
        # never changes: ranked once (a stable sort, so ties go to the first), the best
        # available sentence is always the first one left.
        available = sorted(range(len(candidates)), key=scores.__getitem__, reverse=True)
    origin = [candidate.article for candidate in candidates]
    chosen: list[int] = []
    total_words = 0
    while available:
        if sentences is not None and len(chosen) >= sentences:
            break
        if words is not None and total_words >= words:
            break
        best = max(available, key=merit) if redundancy else available[0]
        chosen.append(best)
        total_words += candidates[best].words
        similar = graph.similarity[best].tolist()
        contained = graph.contained[best].tolist()
        if redundancy:
            top_similarity = [max(a, b) for a, b in zip(top_similarity, similar, strict=True)]
        # Never take a sentence that says what a taken one already says, nor one that is
        # mostly contained in it (or contains it): a longer retelling adds little.
        limits = [weights.contained if a == origin[best] else weights.retold for a in origin]
        available = [
            i
            for i in available
            if i != best and similar[i] < weights.duplicate and contained[i] < limits[i]
        ]
    return chosen


def _scores(
    candidates: Sequence[Candidate],
    similarity: np.ndarray,
    title_similarity: np.ndarray,
    weights: Weights,
    support: Sequence[int] | None,
) -> list[float]:
    # Plain floats: an article has tens of sentences, and a dozen numpy calls on arrays that
    # small cost more than the arithmetic (the sums are the same, term by term, in order).
    centrality = _centrality(similarity)
    scores = [
        weights.position * (1.0 / (1.0 + candidate.index) ** weights.position_decay)
        + weights.paragraph_start * candidate.paragraph_start
        + weights.centrality * central
        + weights.title * to_title
        + weights.length * _length_score(candidate.words, weights)
        for candidate, central, to_title in zip(
            candidates, centrality, title_similarity.tolist(), strict=True
        )
    ]
    if support is not None:
        # A sentence several sources carried matters more; the first report leads.
        carried = (weights.centrality * np.log2(np.asarray(support, dtype=float))).tolist()
        scores = [
            score + more + weights.first_report / (1.0 + candidate.article)
            for score, more, candidate in zip(scores, carried, candidates, strict=True)
        ]
    return scores


def _length_score(words: int, weights: Weights) -> float:
    if words < weights.short_words:
        return -1.0
    if words > weights.long_words:
        return -min(1.0, (words - weights.long_words) / weights.long_words)
    return 0.0


def sentence_graph(candidates: Sequence[Candidate], title: str | None) -> Graph:
    """Cosine similarity of TF-IDF vectors between sentences, word-set containment between
    them, and cosine of each to the title."""
    n = len(candidates)
    rows, stem_ids = _content_stems(candidates)
    if not stem_ids.size:
        return Graph(np.zeros((n, n)), np.zeros((n, n)), np.zeros(n))
    vocabulary, columns = _columns(stem_ids)
    size = len(vocabulary)
    cells = np.bincount(rows * size + columns, minlength=n * size)
    counts = cells.reshape(n, size).astype(float)
    presence = np.minimum(counts, 1.0)
    document_frequency = presence.sum(axis=0)
    idf = np.log((1.0 + n) / (1.0 + document_frequency)) + 1.0
    weighted = counts * idf
    if n * size > _DENSE_CELLS:
        # Many articles: most cells are zero, and a sparse product is far cheaper.
        sparse_weighted, sparse_presence = sparse.csr_matrix(weighted), sparse.csr_matrix(presence)
        products = (sparse_weighted @ sparse_weighted.T).toarray()
        shared = (sparse_presence @ sparse_presence.T).toarray()
    else:
        products = weighted @ weighted.T
        shared = presence @ presence.T
    # Cosine from the dot products, and each sentence's count of distinct stems from the
    # shared ones: fewer passes over the sentence-by-stem matrix (at the size of an article
    # each numpy call costs more than its arithmetic).
    norms = np.sqrt(products.diagonal())
    norms[norms == 0.0] = 1.0  # a sentence of stop words only: similar to nothing
    similarity = products / np.multiply.outer(norms, norms)
    similarity.flat[:: n + 1] = 0.0
    smaller = np.minimum.outer(shared.diagonal(), shared.diagonal())
    contained = shared / np.maximum(smaller, 1.0, out=smaller)
    contained.flat[:: n + 1] = 0.0
    title_similarity = np.zeros(n)
    if title:
        title_vector = np.zeros(size)
        column_of = dict(zip(vocabulary.tolist(), range(size), strict=True))
        for token in content_tokens(title):
            column = column_of.get(_STEM_IDS.get(token, _NO_STEM))
            if column is not None:
                title_vector[column] += 1.0
        norm = np.linalg.norm(title_vector * idf)
        if norm > 0:
            title_similarity = weighted @ (title_vector * idf / norm) / norms
    return Graph(similarity, contained, title_similarity)


def _columns(stem_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct stem ids in order, and the column of each token among them.

    What np.unique(stem_ids, return_inverse=True) gives, several times faster at the size of
    an article (np.unique has a large fixed cost).
    """
    ordered = np.sort(stem_ids)
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    vocabulary = ordered[first]
    return vocabulary, np.searchsorted(vocabulary, stem_ids)


def _centrality(similarity: np.ndarray) -> list[float]:
    """Each sentence's summed similarity to the others, scaled to at most 1: LexRank's degree
    centrality. PageRank over the same graph scored the same on EASC dev (ROUGE within 0.001,
    docs/extractive.md) and cost a linear solve per article."""
    degree = np.add.reduce(similarity, axis=1).tolist()
    top = max(degree)
    return [weight / top for weight in degree] if top > 0 else degree


def merge_duplicates(similarity: np.ndarray, threshold: float) -> list[list[int]]:
    """Groups of sentences that say the same thing (single-link over cosine >= threshold),
    each in ascending order, ordered by their first sentence."""
    rows, cols = np.nonzero(np.triu(similarity >= threshold, k=1))
    labels = connected_labels(similarity.shape[0], rows.tolist(), cols.tolist())
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    return list(groups.values())  # in order of first sentence, as they were first met


def best_formed(
    candidates: Sequence[Candidate], group: Iterable[int], articles: Sequence[Article]
) -> int:
    """The member a reader should see: ends like a sentence, a sensible length, then the
    article from the best-weighted feed published first."""

    def form(i: int) -> tuple[float, ...]:
        c = candidates[i]
        ends_well = c.text.rstrip()[-1:] in _TERMINATORS
        in_bounds = 8 <= c.words <= 50
        return (
            -float(ends_well),
            -float(in_bounds),
            -articles[c.article].weight,
            float(c.article),
            float(c.index),
        )

    return min(group, key=form)
