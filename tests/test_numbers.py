"""Numbers written in Arabic words, read to their values (briefing.arabic.numbers)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from briefing.arabic import tokenize
from briefing.arabic.numbers import written_numbers


def read(text: str) -> list[tuple[set[int], bool]]:
    """Each number written in `text`: its values and whether it is surely a number."""
    return [
        ({int(v) for v in number.values}, number.sure) for number in written_numbers(tokenize(text))
    ]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        # units, teens, tens, and "و" joining them; masculine, feminine, both cases
        ("قتل خمسة أشخاص", [({5}, True)]),
        ("أصيب ثلاث نساء", [({3}, True)]),
        ("ثلاثة عشر جنديا", [({13}, True)]),
        ("خمسة وعشرون شخصا", [({25}, True)]),
        ("أكثر من أربعين قتيلا", [({40}, True)]),
        ("مائة وخمسة وعشرون", [({125}, True)]),
        ("خمسمئة وخمسون", [({550}, True)]),
        ("ثلاث مائة", [({300}, True)]),
        # scales: the whole, and before a scale word the count alone ("3 آلاف")
        ("ثلاثة آلاف متظاهر", [({3, 3000}, True)]),
        ("بخمسة ملايين دولار", [({5, 5_000_000}, True)]),
        ("ألف وخمسمائة", [({1500}, True)]),
        ("مليون وخمسمائة ألف", [({1_500_000}, True)]),
        ("ألفين وثمانية عشر", [({2018}, True)]),
        ("خمسة وعشرون ألفا", [({25, 25_000}, True)]),
        # two numbers side by side are not added up
        ("ما بين ألفين وأربعة آلاف جندي", [({2000}, True), ({4, 4000}, True)]),
        ("بين ثلاثة وخمسة آلاف", [({3}, True), ({5, 5000}, True)]),
        ("ستة قتلى وسبعة جرحى", [({6}, True), ({7}, True)]),
        # read, but not surely numbers: ordinals, one and two, a plural scale without count
        ("الدورة السابعة والثلاثين", [({37}, False)]),
        ("الحادي عشر من سبتمبر", [({11}, False)]),
        ("للمرة الثالثة", [({3}, False)]),
        ("في آن واحد", [({1}, False)]),
        ("آلاف المتظاهرين", [({1000}, False)]),
        ("لست متأكدا", [({6}, False)]),  # "I am not": ل + ست, maybe
        # not numbers at all
        ("عشرات القتلى ومئات الجرحى", []),
        ("قال الوزير إن الحكومة ستعمل", []),
    ],
)
def test_numbers_in_words(text: str, numbers: list[tuple[set[int], bool]]) -> None:
    assert read(text) == numbers


def test_values_are_exact_decimals() -> None:
    [number] = written_numbers(tokenize("ثلاثمائة وعشرون ألفا وخمسة"))
    assert number.values == {Decimal(320_005)}
