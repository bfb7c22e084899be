"""Split Arabic (and mixed) text into sentences exactly as published.

A sentence ends at a full stop, ؟ ? ! ؛ or a line break. It does not end inside a number
(3.5), after a known abbreviation (د. ، U.S.), after a lone initial (جون ف. كينيدي), or inside
a quotation (“...” «...» "...") unless the quotation itself closes the sentence. Nothing is
normalized: callers get slices of the input, stripped of surrounding space.
"""

from __future__ import annotations

import re
import statistics
from bisect import bisect_left
from collections.abc import Iterator

_TERMINATORS = ".!?؟؛"
# Hard-wrapped text: at least this many lines, median width at most this many characters;
# a line shorter than this share of the width ends its paragraph.
_MIN_WRAPPED_LINES = 4
_MAX_WRAP_WIDTH = 110
_SHORT_LINE = 0.6
_CLOSERS = "\"'”’»)]}"
_ONLY_CLOSERS = "”’»)]}"
_ENDS_A_LINE = _TERMINATORS + _CLOSERS + ":"  # how a line that is not hard-wrapped ends
# A run of terminators, then any closing quotes or brackets. Only ever matched where a
# terminator is, so it always matches there.
_RUN = re.compile(r"[.!?؟؛]+[\"'”’»)\]}]*")
# Quotations whose inner terminators do not end a sentence. Bounded and on one line, so that a
# quote mark left open by a site cannot swallow the rest of an article.
_QUOTES = re.compile(r"“[^”\n]{1,500}”|«[^»\n]{1,500}»|\"[^\"\n]{1,500}\"")
_QUOTE_OPENERS = '“«"'
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")
# One letter or digit: exactly the characters str.isalnum() accepts (\w is those and "_").
_ALNUM = re.compile(r"[^\W_]")
# A word of one letter, perhaps with tashkeel, at the end / the start of the searched span.
# Tashkeel is not \w: "مكعّب" must not look like a lone "ب".
_LONE_LETTER_BEFORE = re.compile(r"(?:^|[^\w\u064b-\u0652\u0670])[^\W\d_][\u064b-\u0652\u0670]*$")
_LONE_LETTER_AFTER = re.compile(r"[^\W\d_][\u064b-\u0652\u0670]*(?![\w\u064b-\u0652\u0670])")
# Latin letters as Arabic news spells them out in acronyms (إيه.بي.سي, إف.بي.آي, سي.إن.إن).
# Not the ones that are also common words on their own (في, أو, ال).
_LATIN_LETTER_NAMES = frozenset(
    {
        *("إيه", "ايه", "أيه", "بي", "سي", "دي", "إي", "اي", "إف", "اف", "جي", "إتش", "اتش"),
        *("آي", "جيه", "كيه", "كي", "إل", "إم", "ام", "إن", "ان", "كيو", "آر", "ار", "إس"),
        *("اس", "تي", "يو", "دبليو", "إكس", "اكس", "واي", "زد"),
    }
)
_WORD_BEFORE = re.compile(r"(?<![^\W\d_])[^\W\d_]+$")
_WORD_AFTER = re.compile(r"[^\W\d_]+(?![^\W\d_])")
# How far back an abbreviation is looked for (the last two words).
_ABBREVIATION_TAIL = 60

# Abbreviations written with a full stop; compared without the stop and without tashkeel.
_ABBREVIATIONS = frozenset(
    {
        # Arabic titles and units
        "د",  # doctor (a lone letter, but listed for clarity)
        "أ.د",
        "ا.د",
        "م.م",
        "ص.ب",
        "ق.م",
        "ب.م",
        "إلخ",
        "الخ",
        "ت",  # telephone
        "ج",  # part
        "ص",  # page
        # Latin
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "no",
        "vs",
        "etc",
        "inc",
        "ltd",
        "co",
        "corp",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "u.n",
        "a.m",
        "p.m",
    }
)
# A word that ends in this many letters is longer than any abbreviation or initial.
_LONG_WORD = max(len(abbreviation) for abbreviation in _ABBREVIATIONS) + 1


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, in order, as published (only surrounding space is stripped)."""
    return [sentence for paragraph in split_paragraphs(text) for sentence in paragraph]


def split_paragraphs(text: str) -> list[list[str]]:
    """The sentences of `text` grouped by paragraph (a line, or re-joined hard-wrapped lines)."""
    paragraphs = (_split_block(block) for block in _blocks(text))
    return [paragraph for paragraph in paragraphs if paragraph]


def _blocks(text: str) -> list[str]:
    """Lines, except that lines hard-wrapped at a fixed width are joined back into paragraphs.

    Newspaper archives often wrap every ~75 characters; a line break there is no boundary.
    In such text a line ends a block only when it ends with a terminator or is clearly short
    (the last line of a paragraph, a heading).
    """
    lines = text.splitlines(keepends=True)
    width = _wrap_width(lines)
    if width is None:
        return lines
    blocks: list[str] = []
    current = ""
    for line in lines:
        current += line
        body = line.rstrip()
        if not body or body[-1] in _TERMINATORS or len(body) < _SHORT_LINE * width:
            blocks.append(current)
            current = ""
    if current:
        blocks.append(current)
    return blocks


def _wrap_width(lines: list[str]) -> float | None:
    """The median width of the lines if they are hard-wrapped (narrow, and most of them stop
    mid-sentence), else None."""
    if len(lines) < _MIN_WRAPPED_LINES:
        return None
    bodies = [body for body in map(str.rstrip, lines) if body]
    if len(bodies) < _MIN_WRAPPED_LINES:
        return None
    open_ended = sum(body[-1] not in _ENDS_A_LINE for body in bodies)
    if open_ended <= len(bodies) / 2:
        return None
    width = statistics.median(map(len, bodies))
    return width if width <= _MAX_WRAP_WIDTH else None


def _split_block(block: str) -> list[str]:
    if not block or block.isspace():
        return []
    # Scanning for quotations is costly; most blocks have no quote mark at all.
    quoted = "“" in block or "«" in block or '"' in block
    protected = [m.span() for m in _find_all(_QUOTES, _QUOTE_OPENERS, block)] if quoted else []
    sentences: list[str] = []
    start = last = 0  # where the next piece and the last sentence start
    for end in [*_boundaries(block, protected), len(block)]:
        piece = block[start:end]
        if piece and not piece.isspace():
            if sentences and not _ALNUM.search(piece):
                # A stray "!" or "..." belongs to the sentence before it.
                sentences[-1] = block[last:end].strip()
            else:
                sentences.append(piece.strip())
                last = start
        start = end
    return sentences


def _boundaries(block: str, protected: list[tuple[int, int]]) -> list[int]:
    """Where sentences end in `block`: the end of each run of terminators that is a boundary.

    Runs are looked for only where a terminator is, found with str.find: re looks for a
    character class one character at a time, and that scan was the largest cost of
    splitting an article.
    """
    ends = []
    scanned = 0
    for begin in _positions(block, _TERMINATORS):
        if begin >= scanned:  # not inside the run just read
            scanned = _RUN.match(block, begin).end()  # type: ignore[union-attr]
            if _is_boundary(block, begin, scanned, protected):
                ends.append(scanned)
    return ends


def _find_all(pattern: re.Pattern[str], first: str, text: str) -> Iterator[re.Match[str]]:
    """What pattern.finditer(text) yields, for a pattern whose every match begins with one of
    the characters `first` (tried only where those are, as in _boundaries)."""
    end = 0
    for start in _positions(text, first):
        if start >= end:  # matches do not overlap, as with finditer
            match = pattern.match(text, start)
            if match:
                end = match.end()
                yield match


def _positions(text: str, chars: str) -> list[int]:
    """Every index of any of `chars` in `text`, in order."""
    positions = []
    for char in chars:
        i = text.find(char)
        while i >= 0:
            positions.append(i)
            i = text.find(char, i + 1)
    positions.sort()
    return positions


def _is_boundary(line: str, begin: int, end: int, protected: list[tuple[int, int]]) -> bool:
    """Whether the run of terminators line[begin:end] ends a sentence."""
    following = line[end : end + 1]
    if following and not following.isspace():
        # "3.5", "bbc.com", "U.S." go on; a missing space before an Arabic word does not.
        if line[end - 1] in _CLOSERS or not _ARABIC_LETTER.match(following):
            return False
        if line[begin - 1 : begin].isdigit():
            return False
    elif line[end : end + 8].lstrip(" \t")[:1] in _ONLY_CLOSERS:
        # "( .. )": a closing bracket or quote after a space still belongs to this sentence
        # (not a straight quote mark, which may open the next one).
        return False
    if protected and _inside_quote(begin, end, protected):
        return False
    if line[begin] == "." and (end == begin + 1 or line[begin + 1] not in _TERMINATORS):
        # A single full stop (then perhaps closing quotes): an abbreviation or an initial?
        if begin >= _LONG_WORD and line[begin - _LONG_WORD : begin].isalpha():
            # The usual case, settled cheaply: a word this long is no abbreviation.
            return True
        # Only the tail is passed: copying all the text before every full stop made
        # splitting quadratic in the length of a paragraph.
        tail = line[max(0, begin - _ABBREVIATION_TAIL) : begin]
        return not (_ends_with_abbreviation(tail) or _joins_single_letters(line, begin))
    return True


def _joins_single_letters(line: str, stop: int) -> bool:
    """Whether the full stop at `stop` joins letters into one abbreviation: single letters
    written together ("2000 ق.م", "ص.ب", "م.ع."; "50 م.في" is a sentence end with its space
    missing), a listed one written with a space ("2550 ق. م"), or Latin letters spelled out
    in Arabic ("إيه.بي.سي", "سي.إن.إن")."""
    before = _LONE_LETTER_BEFORE.search(line, max(0, stop - 12), stop)
    if before is None:
        return _spells_latin_letters(line, stop)
    if _LONE_LETTER_AFTER.match(line, stop + 1):
        return True
    after = _LONE_LETTER_AFTER.match(line, stop + 2) if line[stop + 1 : stop + 2] == " " else None
    if after is None:
        return False
    first = next(c for c in before.group() if c.isalpha())
    return f"{first}.{after.group()[0]}" in _ABBREVIATIONS


def _spells_latin_letters(line: str, stop: int) -> bool:
    """Whether the words on both sides of the full stop at `stop`, with no space between,
    are names of Latin letters written in Arabic (an acronym: إيه.بي.سي is ABC)."""
    before = _WORD_BEFORE.search(line, max(0, stop - 6), stop)
    after = _WORD_AFTER.match(line, stop + 1)
    return (
        before is not None
        and after is not None
        and before.group() in _LATIN_LETTER_NAMES
        and after.group() in _LATIN_LETTER_NAMES
    )


def _inside_quote(begin: int, end: int, protected: list[tuple[int, int]]) -> bool:
    """True when the terminators sit inside a quotation that goes on after them.

    The quotations are in order and never overlap, so only the last one opened before
    `begin` can hold them: found by bisection (a scan of all of them at every full stop made
    a paragraph of many short quotations quadratic)."""
    last = bisect_left(protected, begin, key=_start) - 1
    return last >= 0 and end < protected[last][1]


def _start(span: tuple[int, int]) -> int:
    return span[0]


def _ends_with_abbreviation(before: str) -> bool:
    if not before or before[-1].isspace():
        return False
    # Only the last two words matter: a short tail keeps splitting linear, and splitting off
    # just those two from the right saves making a string of every word (this runs at every
    # full stop).
    words = before[-_ABBREVIATION_TAIL:].rsplit(None, 2)
    word = words[-1].lstrip("\"'“«([{").lower()
    if word in _ABBREVIATIONS:
        return True
    # A lone initial (ف. كينيدي, J. Smith), but not a letter after a number (1770 م.).
    if len(word) == 1 and word.isalpha():
        return not (len(words) > 1 and words[-2][-1:].isdigit())
    return False


# "دبي، الإمارات العربية المتحدة (CNN) -- " and "(CNN)— ": where the desk sits and whose
# wire it is, before the news starts. Nearly every CNN Arabic article opens so.
_DATELINE = re.compile(r"^[^\n]{0,80}?\([A-Za-z. ]{2,20}\)\s*[-–—]+\s*")


def without_dateline(text: str) -> str:
    """`text` from where its news starts: a leading dateline (a place, then the agency in
    Latin letters in parentheses and a dash) left out, the rest exactly as published."""
    match = _DATELINE.match(text)
    return text[match.end() :] if match else text
