"""Duplicates: the same URL or GUID, the same text, or nearly the same text from one source.

Near duplicates are found with MinHash over word 4-shingles of the normalized text: a source
that republishes an item with a corrected typo or a new last line is kept once. Only items of
the same source are compared: two agencies telling one story is clustering's business.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from briefing.arabic import normalize

NUM_PERM = 64
SHINGLE_WORDS = 4
_rng = np.random.default_rng(20180401)  # fixed: signatures are stored and compared across runs
_A = _rng.integers(1, 1 << 63, NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd multipliers
_B = _rng.integers(0, 1 << 63, NUM_PERM, dtype=np.uint64)


def shingles(key: str) -> np.ndarray:
    """32-bit hashes of the word 4-grams of `key`, normalized text (all of it when shorter)."""
    grams = _grams(key)
    return np.fromiter(map(zlib.crc32, map(str.encode, grams)), dtype=np.uint64, count=len(grams))


def _grams(key: str) -> list[str]:
    words = key.split()
    starts = (words[i:] for i in range(SHINGLE_WORDS))
    return list(map(" ".join, zip(*starts, strict=False))) or [" ".join(words)]  # tails end it


def signature(key: str) -> np.ndarray:
    """MinHash signature of normalized text: NUM_PERM uint32; equal positions estimate Jaccard.

    Each permutation is multiply-shift hashing, (a*x + b) mod 2**64, top 32 bits: no modulo,
    so a signature costs microseconds.
    """
    return signatures([key])[0]


def signatures(keys: list[str]) -> np.ndarray:
    """`signature` of each key, one row each, computed together: a few numpy calls in all
    rather than a few per key (which cost more than the arithmetic for news-sized texts)."""
    grams = [_grams(key) for key in keys]  # never empty, so no segment below is empty
    flat = [gram for key_grams in grams for gram in key_grams]
    hashes = np.fromiter(map(zlib.crc32, map(str.encode, flat)), dtype=np.uint64, count=len(flat))
    with np.errstate(over="ignore"):
        mixed = np.multiply.outer(hashes, _A)
        mixed += _B
    starts = np.cumsum([0] + [len(g) for g in grams[:-1]])
    # The top 32 bits of the least value are the least top 32 bits: shift the minima only.
    return (np.minimum.reduceat(mixed, starts, axis=0) >> np.uint64(32)).astype(np.uint32)


def text_signature(text: str) -> np.ndarray:
    return signature(normalize(text))


def similarity(one: np.ndarray, other: np.ndarray) -> float:
    return float(np.mean(one == other))


@dataclass
class NearDuplicates:
    """Signatures of recent items, per source; finds an item's near twin from the same source."""

    threshold: float
    _ids: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _sigs: dict[str, np.ndarray] = field(default_factory=dict)  # rows beyond len(ids) unused

    def add(self, source: str, article_id: str, sig: np.ndarray) -> None:
        ids = self._ids[source]
        table = self._sigs.get(source)
        if table is None or len(ids) == len(table):  # full: double the room
            grown = np.zeros((max(16, 2 * len(ids)), NUM_PERM), dtype=np.uint32)
            if table is not None:
                grown[: len(ids)] = table
            self._sigs[source] = table = grown
        table[len(ids)] = sig
        ids.append(article_id)

    def twin(self, source: str, sig: np.ndarray) -> str | None:
        """The id of a known item of `source` at least `threshold` similar to `sig`."""
        ids = self._ids.get(source)
        if not ids:
            return None
        # Equal positions counted, not averaged: count / NUM_PERM >= threshold exactly when
        # count >= threshold * NUM_PERM (a power of two: both sides are exact).
        equal = np.count_nonzero(self._sigs[source][: len(ids)] == sig[None, :], axis=1)
        best = int(np.argmax(equal))
        return ids[best] if equal[best] >= self.threshold * NUM_PERM else None
