"""Choose the extractive weights on EASC dev, with 5-fold cross-validation inside dev.

Prints one JSON object: the best weights on all of dev, their dev ROUGE-1/2 (fast counts,
identical to rouge-score with the Arabic tokenizer), lead's beside them, and the
cross-validated score (weights chosen on 4 folds, scored on the fifth). Never reads heldout.

    PYTHONPATH=. python benchmarks/tune_extractive.py [--configs 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import random
import sys
from typing import Any

from benchmarks.easc_data import load_easc, ngram_f1, take_budget
from briefing.summarize.extractive import DEFAULT_WEIGHTS, Weights, candidates_of, select
from tests.shared_data import SHARED_DATA

# Fields of Weights, each with values of its own type (float, or int for the word counts).
GRID: dict[str, list[Any]] = {
    "position_decay": [0.3, 0.5, 1.0, 2.0],
    "paragraph_start": [0.0, 0.1, 0.3],
    "centrality": [0.0, 0.1, 0.3, 0.6],
    "length": [0.0, 0.2, 0.5],
    "redundancy": [0.0, 0.2, 0.5],
    "long_words": [40, 60, 90],
    "contained": [0.6, 0.65, 0.7],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=300, help="random grid points to try")
    args = parser.parse_args()
    data = SHARED_DATA
    if data is None:
        print(json.dumps({"skipped": "shared data not found (set BRIEFING_SHARED_DATA)"}))
        return 0
    articles = load_easc("dev", data)
    prepared = [(a, candidates_of(a.text)) for a in articles]
    keys = list(GRID)
    grid = list(itertools.product(*(GRID[k] for k in keys)))
    random.Random(0).shuffle(grid)
    configs = [DEFAULT_WEIGHTS] + [
        dataclasses.replace(DEFAULT_WEIGHTS, **dict(zip(keys, values, strict=True)))
        for values in grid[: args.configs]
    ]
    per_article = [_scores(prepared, weights) for weights in configs]
    best = max(range(len(configs)), key=lambda c: _mean(per_article[c]))
    lead = [_score(a, take_budget([c.text for c in cands], a.budget)) for a, cands in prepared]
    folds = [list(range(i, len(articles), 5)) for i in range(5)]
    cv: list[tuple[float, float]] = []
    for fold in folds:
        train = [i for i in range(len(articles)) if i not in fold]
        pick = max(range(len(configs)), key=lambda c: _mean([per_article[c][i] for i in train]))
        cv.extend(per_article[pick][i] for i in fold)
    report = {
        "split": "dev",
        "configs_tried": len(configs),
        "objective": "mean of ROUGE-1 and ROUGE-2 F1",
        "best_weights": dataclasses.asdict(configs[best]),
        "best_dev": _summary(per_article[best]),
        "default_dev": _summary(per_article[0]),
        "lead_dev": _summary(lead),
        "cross_validated_5fold": _summary(cv),
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


def _scores(prepared: list, weights: Weights) -> list[tuple[float, float]]:
    scores = []
    for article, candidates in prepared:
        chosen = select(candidates, None, sentences=None, words=article.budget, weights=weights)
        scores.append(_score(article, [candidates[i].text for i in sorted(chosen)]))
    return scores


def _score(article, sentences: list[str]) -> tuple[float, float]:
    summary = " ".join(sentences)
    return ngram_f1(summary, article.references, 1), ngram_f1(summary, article.references, 2)


def _mean(scores: list[tuple[float, float]]) -> float:
    return sum(r1 + r2 for r1, r2 in scores) / (2 * len(scores))


def _summary(scores: list[tuple[float, float]]) -> dict[str, float]:
    n = len(scores)
    return {
        "rouge1": round(sum(s[0] for s in scores) / n, 4),
        "rouge2": round(sum(s[1] for s in scores) / n, 4),
    }


if __name__ == "__main__":
    raise SystemExit(main())
