"""ROUGE for Arabic: rouge-score with the project's normalizer and tokenizer on both sides.

rouge-score's default tokenizer keeps only [a-z0-9] and so deletes Arabic (every score 0.0).
Here both candidate and references go through `briefing.arabic.tokenize`, which normalizes
(tashkeel, alef forms, ى/ي, ة/ه, digits) and keeps Arabic words, Latin words and numbers.
No stemming and no stop-word removal, as in the standard ROUGE setting.
rouge-score is a development dependency: import this module only from benchmarks and tests.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rouge_score import rouge_scorer

from briefing.arabic import tokenize

METRICS = ("rouge1", "rouge2", "rougeL")


class ArabicTokenizer:
    """The tokenizer object rouge-score expects: `tokenize(text) -> list[str]`."""

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)


@dataclass(frozen=True, slots=True)
class RougeF1:
    rouge1: float
    rouge2: float
    rougeL: float

    def as_dict(self) -> dict[str, float]:
        return {"rouge1": self.rouge1, "rouge2": self.rouge2, "rougeL": self.rougeL}


@lru_cache(maxsize=1)
def _scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(list(METRICS), tokenizer=ArabicTokenizer())


def rouge_f1(candidate: str, references: Sequence[str]) -> RougeF1:
    """F1 of `candidate` against each reference, averaged over the references."""
    if not references:
        raise ValueError("rouge_f1 needs at least one reference")
    totals = dict.fromkeys(METRICS, 0.0)
    for reference in references:
        scores = _scorer().score(reference, candidate)
        for metric in METRICS:
            totals[metric] += scores[metric].fmeasure
    n = len(references)
    return RougeF1(totals["rouge1"] / n, totals["rouge2"] / n, totals["rougeL"] / n)


def mean_f1(scores: Sequence[RougeF1]) -> RougeF1:
    """The mean of per-document scores."""
    n = max(len(scores), 1)
    return RougeF1(
        sum(s.rouge1 for s in scores) / n,
        sum(s.rouge2 for s in scores) / n,
        sum(s.rougeL for s in scores) / n,
    )


def bigrams(text: str) -> Counter[tuple[str, str]]:
    """Token bigram counts with the same tokenizer, for fast ROUGE-2 (e.g. an oracle search)."""
    tokens = tokenize(text)
    return Counter(itertools.pairwise(tokens))


def rouge2_f1_counts(
    candidate: Counter[tuple[str, str]], references: Sequence[Counter[tuple[str, str]]]
) -> float:
    """ROUGE-2 F1 from bigram counts, averaged over references (matches rouge-score's)."""
    total = 0.0
    size = sum(candidate.values())
    for reference in references:
        overlap = sum((candidate & reference).values())
        ref_size = sum(reference.values())
        if overlap and size and ref_size:
            precision, recall = overlap / size, overlap / ref_size
            total += 2 * precision * recall / (precision + recall)
    return total / len(references) if references else 0.0
