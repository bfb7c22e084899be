"""Numbers written as Arabic words, read to their values: "خمسة وعشرون" is 25, "ثلاثة آلاف"
is 3000, "السابعة والثلاثين" is 37. For matching only (the guard compares a summary's numbers
with its sources'), on normalized tokens (briefing.arabic.tokenize).

Each number found says whether it is surely one: it starts with a word that is a number and
nothing else (a cardinal from three up, tens, hundreds, or "ألف"/"مليون"). One and two
(mostly said by the noun, "جنديين"; "في آن واحد" is no count), ordinals ("طرف ثالث" is no
count) and a plural scale without its count ("آلاف المتظاهرين": thousands of protesters)
are read too, but are not sure: what a summary claims is what it surely says; what its
sources allow is everything they may mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from briefing.arabic.normalize import normalize


def _normalized(table: dict[str, Any]) -> dict[str, Any]:
    return {normalize(word): value for word, value in table.items()}


_UNITS = (("ثلاث", 3), ("أربع", 4), ("خمس", 5), ("ست", 6), ("سبع", 7), ("ثمان", 8),
          ("تسع", 9))  # fmt: skip
# Words that are numbers and nothing else, masculine and feminine, nominative and oblique
# ("ثلاثون" / "ثلاثين").
_COUNTS = _normalized({
    **{unit + end: value for unit, value in _UNITS for end in ("", "ة")},
    "ثماني": 8, "ثمانية": 8, "عشر": 10, "عشرة": 10,
    **{unit + end: value * 10 for unit, value in (("عشر", 2), *_UNITS) for end in ("ون", "ين")},
    **{unit + hundred: value * 100 for unit, value in (("", 1), *_UNITS)
       for hundred in ("مائة", "مئة")},
    "مائتان": 200, "مائتين": 200, "مئتان": 200, "مئتين": 200, "مائتا": 200, "مئتا": 200,
})  # fmt: skip
# Words that may be numbers: one, two, and ordinals.
_MAYBE_COUNTS = _normalized({
    "واحد": 1, "واحدة": 1, "أحد": 1, "إحدى": 1, "اثنان": 2, "اثنين": 2, "اثنتان": 2,
    "اثنتين": 2, "اثنا": 2, "اثني": 2, "اثنتا": 2, "اثنتي": 2, "أولى": 1,
    **{name + end: value for name, value in (
        ("أول", 1), ("حادي", 1), ("ثاني", 2), ("ثالث", 3), ("رابع", 4), ("خامس", 5),
        ("سادس", 6), ("سابع", 7), ("ثامن", 8), ("تاسع", 9), ("عاشر", 10)) for end in ("", "ة")},
})  # fmt: skip
# Scale words: the scale, how many of it the word says, and whether the word is surely a
# number without a count before it ("ألف" is 1000; "آلاف" alone is "thousands of").
_SCALES = _normalized({
    **{word: (1000, count, alone) for word, count, alone in (
        ("ألف", 1, True), ("ألفا", 1, True), ("ألفان", 2, True), ("ألفين", 2, True),
        ("آلاف", 1, False))},
    **{word: (10**6, count, alone) for word, count, alone in (
        ("مليون", 1, True), ("مليونا", 1, True), ("مليونان", 2, True), ("مليونين", 2, True),
        ("ملايين", 1, False))},
    **{word: (10**9, count, alone) for word, count, alone in (
        ("مليار", 1, True), ("مليارا", 1, True), ("ملياران", 2, True), ("مليارين", 2, True),
        ("مليارات", 1, False))},
})  # fmt: skip
_HUNDRED = {normalize("مائة"), normalize("مئة")}  # after a unit, apart: "ثلاث مائة"
_TEN = {normalize("عشر"), normalize("عشرة")}  # after a unit: "ثلاثة عشر"
_PREFIXES = ("وال", "بال", "لل", "ال", "و", "ب", "ل", "ف", "ك")
_JOINS = ("وال", "و")  # how a later part of a number joins it: "خمسة وعشرون"


@dataclass(frozen=True, slots=True)
class WrittenNumber:
    """A number in words: the words (normalized), what it may mean (the whole, "ثلاثة آلاف":
    3000, and before a scale word the count alone, 3, since "3 آلاف" writes only the count
    in digits), and whether it is surely a number (see the module's docstring)."""

    words: str
    values: frozenset[Decimal]
    sure: bool


def written_numbers(tokens: Sequence[str]) -> list[WrittenNumber]:
    """The numbers that runs of normalized `tokens` write in words."""
    found, i = [], 0
    while i < len(tokens):
        number, i = _number_at(tokens, i)
        if number is not None:
            found.append(number)
    return found


def scale_of(token: str) -> int | None:
    """The value of a scale word ("آلاف": 1000), or None: for digits before one ("3 آلاف")."""
    scale = _SCALES.get(token)
    return scale[0] if scale else None


def _number_at(tokens: Sequence[str], start: int) -> tuple[WrittenNumber | None, int]:
    """The number written from `start` on, if any, and the index where reading goes on."""
    total = current = 0
    counted, last_scale, sure = None, None, False  # counted: "ثلاثة" of "ثلاثة آلاف"
    end = part_start = start  # part_start: where the count before the next scale began
    while end < len(tokens):
        token, first = tokens[end], end == start
        scale = _lookup(token, _SCALE_WORDS, first=first, after_count=bool(current))
        count = _lookup(token, _COUNT_WORDS, first=first)
        maybe = None if count is not None else _lookup(token, _MAYBE_WORDS, first=first)
        if 0 < current < 10 and token in _TEN:
            current += 10  # "ثلاثة عشر", "الحادي عشر"
        elif 0 < current < 10 and token in _HUNDRED:
            current *= 100  # "ثلاث مائة"
        elif scale is not None:
            base, times, alone = scale
            if last_scale is not None and base >= last_scale:
                # Scales only fall inside one number ("مليون وخمسمائة ألف"): "بين ألفين
                # وأربعة آلاف" is two numbers, and the second starts at its count.
                end, current = (part_start, 0) if current else (end, current)
                break
            sure = sure or (first and alone)
            counted = current if current and not total else None
            total += (current or 1) * times * base
            current, last_scale = 0, base
        elif (value := count if count is not None else maybe) is not None:
            if not first and not _joins(current, value):
                break  # "بين ثلاثة وخمسة": two numbers
            # Sure only as a word of its own: "لست" ("I am not") may be ل + "ست" (six).
            sure = sure or (first and count is not None and (len(token) > 3 or token in _COUNTS))
            part_start = end if not current else part_start
            current += value
        else:
            break
        end += 1
    if end == start:
        return None, start + 1
    values = {Decimal(total + current)}
    if counted is not None and current == 0:
        values.add(Decimal(counted))
    return WrittenNumber(" ".join(tokens[start:end]), frozenset(values), sure), end


def _joins(current: int, value: int) -> bool:
    """Whether "و" + `value` goes on a number that stands at `current` (below a thousand,
    or 0 after a scale word): hundreds take what is below a hundred, units take tens
    ("مائة وخمسة وعشرون"), a scale word takes whatever follows it."""
    below_hundred = current % 100
    if below_hundred == 0:
        return current == 0 or value < 100
    return below_hundred < 10 and 20 <= value < 100 and value % 10 == 0


@dataclass(frozen=True, slots=True)
class _Words:
    """A table of number words, and each of its words behind each clitic prefix (looked up
    in one step: sources run to thousands of tokens)."""

    bare: dict[str, Any]
    prefixed: dict[str, tuple[str, Any]]  # "بخمسه": ("ب", 5)

    @classmethod
    def of(cls, table: dict[str, Any]) -> _Words:
        prefixed: dict[str, tuple[str, Any]] = {}
        for prefix in _PREFIXES:  # in order: the first prefix that fits wins
            for word, value in table.items():
                prefixed.setdefault(prefix + word, (prefix, value))
        return cls(table, prefixed)


def _lookup(token: str, words: _Words, *, first: bool, after_count: bool = False) -> Any:
    """`token`'s entry in `words`, as it stands or without a clitic prefix ("بخمسة",
    "الخامس"). A later word of a number joins it with و ("وعشرون"), but a scale word follows
    its count as it stands ("ثلاثة آلاف")."""
    if (first or after_count) and token in words.bare:
        return words.bare[token]
    found = words.prefixed.get(token)
    if found is not None and (first or found[0] in _JOINS):
        return found[1]
    return None


_COUNT_WORDS, _MAYBE_WORDS, _SCALE_WORDS = (
    _Words.of(_COUNTS), _Words.of(_MAYBE_COUNTS), _Words.of(_SCALES)
)  # fmt: skip
