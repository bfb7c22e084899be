"""Which light stemmer helps story clustering: the same clustering and 5-fold cross-validation
as benchmarks/cluster_quality.py, with the token stemmer swapped (none, ours, ISRI's affix
removal, ISRI's root stemmer, tashaphyne's light stemmer). Prints JSON.

    .venv/bin/python -m benchmarks.stemmers
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict
from unittest import mock

import numpy as np
from nltk.stem.isri import ISRIStemmer
from tashaphyne.stemming import ArabicLightStemmer

import briefing.arabic.tokens as tokens
from briefing import cluster_eval as ev
from briefing.config import Cluster
from tests.shared_data import SHARED_DATA

_ISRI = ISRIStemmer()
_TASHAPHYNE = ArabicLightStemmer()


def _arabic_only(stemmer: Callable[[str], str]) -> Callable[[str], str]:
    """Apply `stemmer` to Arabic words only (numbers and Latin names pass through)."""

    @functools.cache
    def stem(token: str) -> str:
        return (stemmer(token) or token) if tokens._ARABIC_LETTER.match(token) else token

    return stem


STEMMERS: dict[str, Callable[[str], str]] = {
    "none": lambda token: token,
    "briefing light stemmer (shipped)": tokens.stem,
    "ISRI affix removal (pre32 + suf32)": _arabic_only(lambda t: _ISRI.suf32(_ISRI.pre32(t))),
    "ISRI root stemmer": _arabic_only(_ISRI.stem),
    "tashaphyne light stemmer": _arabic_only(_TASHAPHYNE.light_stem),
}


def main() -> None:
    if SHARED_DATA is None:
        print(json.dumps({"skipped": "shared data not found (set BRIEFING_SHARED_DATA)"}))
        return
    articles, gold_of = ev.load_dev_labels(SHARED_DATA)
    gold = [gold_of[a.id] for a in articles]
    thresholds = [round(float(t), 4) for t in np.arange(0.2, 0.5001, 0.025)]
    results = {}
    for name, stemmer in STEMMERS.items():
        # content_tokens looks the stemmer up at call time; the shipped one comes back after.
        with mock.patch.object(tokens, "stem", stemmer):
            scores = ev.cross_validate_method(articles, gold, Cluster(), thresholds).scores
        results[name] = {k: round(v, 4) for k, v in asdict(scores).items()}
    print(json.dumps({"labels": ev.DEV_LABELS, "folds": 5, "results": results}, indent=2))


if __name__ == "__main__":
    main()
