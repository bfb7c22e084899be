"""Which language an item is written in: Arabic, or something else (and then which).

Most items are plainly Arabic: Arabic letters, none of the letters only Persian or Urdu use.
Those are decided by a script count, which is fast; lingua decides the rest (Latin script,
Persian, Urdu, mixed text), since running it on every item would dominate a cold run.
"""

from __future__ import annotations

import re
from functools import lru_cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

_ARABIC_LETTERS = re.compile("[\u0621-\u064a]+")
_PERSIAN_URDU_ONLY = re.compile(
    "[\u067e\u0686\u0698\u06a9\u06af\u06cc\u0679\u0688\u0691\u06ba\u06be\u06c1\u06d2]"
)
_NOT_LETTERS = re.compile(r"[\W\d_]+")  # the complement of a letter, [^\W\d_]
_LANGUAGES = (
    Language.ARABIC,
    Language.PERSIAN,
    Language.URDU,
    Language.ENGLISH,
    Language.FRENCH,
    Language.SPANISH,
    Language.GERMAN,
    Language.TURKISH,
    Language.HEBREW,
    Language.RUSSIAN,
)


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    # Low-accuracy mode loads only trigram models: a second instead of several, and the
    # Arabic-or-not question it answers here needs no more.
    return LanguageDetectorBuilder.from_languages(*_LANGUAGES).with_low_accuracy_mode().build()


def detect_language(text: str, default: str = "ar") -> str:
    """ISO 639-1 code of `text`; `default` when there is too little text to tell."""
    # Letters are counted by deleting the rest, a few long runs: 3x faster than a list of
    # every letter, and language detection runs for every item of a cold run.
    letters = _NOT_LETTERS.sub("", text)
    if len(letters) < 3:
        return default
    arabic = len(letters) - len(_ARABIC_LETTERS.sub("", letters))
    if arabic / len(letters) > 0.8 and not _PERSIAN_URDU_ONLY.search(text):
        return "ar"
    found = _detector().detect_language_of(text)
    return found.iso_code_639_1.name.lower() if found is not None else default
