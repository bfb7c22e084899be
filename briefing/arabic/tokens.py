"""Tokens for matching: Arabic and Latin words and numbers, stop words, a light stemmer.

Python's generic filters drop Arabic (`'كَتَبَ'.isalnum()` is False because of tashkeel), so
tokens come from one explicit pattern over normalized text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

from briefing.arabic.normalize import normalize

# Arabic letters (U+0621-U+064A and the Persian additions), Latin letters, digits.
# Numbers keep an inner decimal point or thousands comma: "3.5", "1,200".
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[\u0621-\u064a\u0671-\u06d3]+|[a-z]+(?:'[a-z]+)?")
_SEPARATOR = "\x00"
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")
_LATIN_LETTER = re.compile(r"[A-Za-z]")

# Light stemming: clitics and inflection only, never roots, so that names survive.
_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")
_SUFFIXES = ("ات", "ون", "ين", "ان", "يه", "ها", "هم", "هما", "كم", "نا", "ه", "ي")
_MIN_STEM = 3


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """The stop-word list in `data/stopwords.txt` (already normalized)."""
    text = resources.files("briefing.arabic").joinpath("data/stopwords.txt").read_text("utf-8")
    words = (line.strip() for line in text.splitlines())
    return frozenset(w for w in words if w and not w.startswith("#"))


def tokenize(text: str) -> list[str]:
    """All word and number tokens of `text`, normalized; nothing removed."""
    return _TOKEN.findall(normalize(text))


def tokenize_many(texts: Sequence[str]) -> list[list[str]]:
    """`tokenize` of each text, normalizing them in one pass (much faster for many sentences)."""
    if not texts:
        return []
    # NUL survives normalize() untouched and never occurs in real text worth keeping.
    joined = normalize(_SEPARATOR.join(text.replace(_SEPARATOR, " ") for text in texts))
    return [_TOKEN.findall(part) for part in joined.split(_SEPARATOR)]


@lru_cache(maxsize=200_000)
def stem(token: str) -> str:
    """Strip one article/conjunction prefix and one suffix, keeping at least 3 letters."""
    if not _ARABIC_LETTER.match(token):
        return token
    for prefix in _PREFIXES:
        if token.startswith(prefix) and len(token) - len(prefix) >= _MIN_STEM:
            token = token[len(prefix) :]
            break
    else:
        # A bare conjunction و; other one-letter prefixes start too many names (بوتين).
        if token[0] == "و" and len(token) - 1 > _MIN_STEM:
            token = token[1:]
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if token.endswith(suffix) and len(token) - len(suffix) >= _MIN_STEM:
            return token[: -len(suffix)]
    return token


def content_tokens(text: str, *, stemmed: bool = True) -> list[str]:
    """Tokens that carry meaning: no stop words, no one-letter words; stemmed by default."""
    stop = stopwords()
    tokens = [t for t in tokenize(text) if t not in stop and (len(t) > 1 or t.isdigit())]
    return [stem(t) for t in tokens] if stemmed else tokens


def is_arabic_text(text: str, threshold: float = 0.5) -> bool:
    """True when at least `threshold` of the letters in `text` are Arabic."""
    arabic = len(_ARABIC_LETTER.findall(text))
    latin = len(_LATIN_LETTER.findall(text))
    return arabic + latin > 0 and arabic / (arabic + latin) >= threshold
