"""The guard: a machine-written summary may say nothing its sources do not.

Every check works on normalized text (briefing.arabic.normalize), so Arabic-Indic digits,
hamza spellings and letter case do not matter. A summary that fails is never shown: the
caller falls back to the extractive summary and logs the reason this module returns.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from briefing.arabic import normalize, tokenize

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LATIN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a\u0671-\u06d3]")
_LATIN_LETTER = re.compile(r"[a-z]")
_OTHER_LETTER = re.compile(r"[^\W\d_\u0621-\u064a\u0671-\u06d3a-z]")

# A loop: the same three words three times, four words twice, or one word three times in a row.
# Real two- or three-sentence news summaries almost never do any of these.
_LOOP_LIMITS = {3: 3, 4: 2}
_RUN_LIMIT = 3


def check_summary(
    summary: str,
    sources: Sequence[str],
    *,
    min_words: int = 5,
    max_words: int = 90,
    min_arabic_share: float = 0.8,
) -> str | None:
    """Return None when `summary` may be shown, else a short reason for rejecting it."""
    text = normalize(summary)
    if not text:
        return "empty summary"
    share = _arabic_share(text)
    if share < min_arabic_share:
        return f"not mostly Arabic ({share:.0%} of letters in Arabic script)"
    words = tokenize(summary)
    if len(words) < min_words:
        return f"too short ({len(words)} words, minimum {min_words})"
    if len(words) > max_words:
        return f"too long ({len(words)} words, maximum {max_words})"
    loop = _repeated_ngram(words)
    if loop:
        return f"repeats itself ({loop!r})"
    source_text = normalize(" ".join(sources))
    missing = _missing(_numbers(text), _numbers(source_text))
    if missing:
        return f"number not in the sources: {missing}"
    missing = _missing(set(_LATIN_WORD.findall(text)), set(_LATIN_WORD.findall(source_text)))
    if missing:
        return f"Latin-script name not in the sources: {missing}"
    return None


def _numbers(normalized: str) -> set[str]:
    # "1,200" and "1200" are the same number; the thousands comma is a matter of style.
    return {n.replace(",", "") for n in _NUMBER.findall(normalized)}


def _missing(found: set[str], allowed: set[str]) -> str | None:
    absent = sorted(found - allowed)
    return ", ".join(absent) if absent else None


def _arabic_share(normalized: str) -> float:
    arabic = len(_ARABIC_LETTER.findall(normalized))
    other = len(_LATIN_LETTER.findall(normalized)) + len(_OTHER_LETTER.findall(normalized))
    return arabic / (arabic + other) if arabic + other else 0.0


def _repeated_ngram(words: list[str]) -> str | None:
    for i in range(len(words) - _RUN_LIMIT + 1):
        if len(set(words[i : i + _RUN_LIMIT])) == 1:
            return " ".join(words[i : i + _RUN_LIMIT])
    for n, limit in _LOOP_LIMITS.items():
        grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
        for gram, count in grams.items():
            if count >= limit:
                return " ".join(gram)
    return None
