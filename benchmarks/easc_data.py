"""Shared helpers for the EASC benchmarks: find the data, load a split, fast ROUGE-1/2."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from briefing.arabic import tokenize

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class EascArticle:
    id: str
    text: str
    references: tuple[str, ...]
    budget: int  # mean word count of the references: every method gets this many words


def load_easc(split: str, data: Path) -> list[EascArticle]:
    ids = json.loads((data / "easc" / "easc_splits.json").read_text("utf-8"))[split]
    rows = {}
    with (data / "easc" / "easc.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            rows[row["id"]] = row
    articles = []
    for article_id in ids:
        row = rows[article_id]
        references = tuple(s["text"] for s in row["summaries"])
        budget = round(statistics.mean(len(r.split()) for r in references))
        articles.append(EascArticle(article_id, row["text"], references, budget))
    return articles


def take_budget(ranked: Sequence[str], words: int) -> list[str]:
    """Sentences in order of merit until `words` is reached (the last one may go over).

    The one budget rule every method gets; the caller puts them back in document order.
    """
    taken: list[str] = []
    total = 0
    for sentence in ranked:
        if total >= words:
            break
        taken.append(sentence)
        total += len(sentence.split())
    return taken


def ngram_f1(candidate: str, references: Sequence[str], n: int) -> float:
    """ROUGE-n F1 averaged over references, identical to rouge-score with our tokenizer."""
    cand = _ngrams(tokenize(candidate), n)
    size = sum(cand.values())
    total = 0.0
    for reference in references:
        ref = _ngrams(tokenize(reference), n)
        overlap = sum((cand & ref).values())
        if overlap:
            precision, recall = overlap / size, overlap / sum(ref.values())
            total += 2 * precision * recall / (precision + recall)
    return total / len(references)


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
