"""Split Arabic text into sentences, exactly as published."""

from __future__ import annotations

import re

# End of sentence: . ! ? ؟ ؛ followed by space, unless the dot sits inside a number.
_BOUNDARY = re.compile(r"(?<=[.!?؟؛])\s+(?=\S)")


def split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for line in text.splitlines():
        for part in _BOUNDARY.split(line.strip()):
            if part.strip():
                sentences.append(part.strip())
    return sentences
