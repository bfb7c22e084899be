"""One Arabic normalizer, used wherever text is matched (dedup, clustering, scoring, ROUGE).

Never apply it to text a reader sees.
"""

from __future__ import annotations

import re
import unicodedata

# Harakat, tanween, shadda, sukun, superscript alef and Quranic marks.
_TASHKEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ؤ": "و",
        "ئ": "ي",
        # Persian/Urdu letters that Arabic sites sometimes type by keyboard accident.
        "ی": "ي",
        "ک": "ك",
        # Arabic-Indic and Eastern Arabic-Indic digits to ASCII.
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
        # Arabic decimal and thousands separators.
        "٫": ".",
        "٬": ",",
    }
)
_SPACES = re.compile(r"\s+")
# str.translate with a dict looks up every character (slow on Arabic text); one replace per
# folded character gives the same result several times faster. Summaries depend on this speed.
_FOLD_PAIRS = tuple((chr(source), target) for source, target in _FOLD.items())


def normalize(text: str, *, fold_teh_marbuta: bool = True, lowercase: bool = True) -> str:
    """Return `text` folded for matching: no tashkeel or tatweel, one alef, ASCII digits.

    `fold_teh_marbuta` maps ة to ه, which sites use interchangeably at word ends.
    Hamza carriers (ؤ ئ) are folded too: spelling of hamza varies a lot between sites.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _TASHKEEL.sub("", text).replace(_TATWEEL, "")
    for source, target in _FOLD_PAIRS:
        if source in text:
            text = text.replace(source, target)
    if fold_teh_marbuta:
        text = text.replace("ة", "ه")
    if lowercase:
        text = text.lower()
    # Same as _SPACES.sub(" ", text).strip(): str.split() and re's \s share one notion of space.
    return " ".join(text.split())
