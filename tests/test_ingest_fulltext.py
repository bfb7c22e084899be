"""Main-text extraction on real pages: the CNN Arabic article and the BBC Arabic home page."""

from __future__ import annotations

from difflib import SequenceMatcher

import pytest

from briefing.ingest.clean import clean_text
from briefing.ingest.fulltext import doubt, extract_article
from tests.shared_data import SHARED_DATA, requires_shared_data

pytestmark = [requires_shared_data, pytest.mark.shared_data]

F1_FLOOR = 0.95


def char_f1(found: str, expected: str) -> tuple[float, float, float]:
    """Character-level precision, recall and F1 of aligned text (whitespace ignored).

    Characters count as matched only in the same order (difflib's matching blocks), not as a
    bag of letters, so extra paragraphs and missing ones both cost.
    """
    a, b = "".join(found.split()), "".join(expected.split())
    matched = sum(
        block.size for block in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    )
    precision, recall = matched / max(1, len(a)), matched / max(1, len(b))
    return precision, recall, 2 * precision * recall / max(1e-9, precision + recall)


def test_the_cnn_arabic_page_extracts_to_its_expected_body() -> None:
    assert SHARED_DATA is not None
    folder = SHARED_DATA / "html_pages" / "newspaper4k"
    page = (folder / "arabic_article.html").read_bytes()
    expected = (folder / "arabic_article.txt").read_text(encoding="utf-8")
    extraction = extract_article(page, "http://arabic.cnn.com/2013/middle_east/8/3/syria.clashes/")
    assert extraction.is_article, extraction.reason
    raw = char_f1(extraction.text, expected)
    cleaned = clean_text(extraction.text, title="معارضون يسيطرون على مخازن للصواريخ بريف دمشق")
    precision, recall, f1 = char_f1(cleaned.text, expected)
    print(
        f"CNN Arabic: extraction F1 {raw[2]:.3f} (P {raw[0]:.3f} R {raw[1]:.3f}); "
        f"after cleaning F1 {f1:.3f} (P {precision:.3f} R {recall:.3f})"
    )
    assert f1 >= F1_FLOOR
    assert doubt(cleaned.text, expected.splitlines()[0][:200]) is None


def test_the_same_page_saved_by_another_project_extracts_as_well() -> None:
    assert SHARED_DATA is not None
    page = (SHARED_DATA / "html_pages" / "goose3" / "test_cnn_arabic.html").read_bytes()
    expected = (SHARED_DATA / "html_pages" / "newspaper4k" / "arabic_article.txt").read_text(
        "utf-8"
    )
    extraction = extract_article(page)
    assert extraction.is_article, extraction.reason
    assert char_f1(clean_text(extraction.text).text, expected)[2] >= F1_FLOOR


def test_the_bbc_arabic_home_page_is_not_an_article() -> None:
    assert SHARED_DATA is not None
    folder = SHARED_DATA / "html_pages" / "bbc_arabic_homepage_2022"
    extraction = extract_article(folder.joinpath("index_page_commit_7a1b403.html").read_bytes())
    assert not extraction.is_article
    assert extraction.text == "" and extraction.reason


def test_text_that_shares_little_with_the_teaser_is_doubted() -> None:
    teaser = "أعلنت وزارة الصحة اليوم عن افتتاح مستشفى جديد في مدينة الرياض بسعة مئتي سرير"
    consent_wall = "نستخدم ملفات تعريف الارتباط لتحسين تجربتك. " * 10
    assert doubt(consent_wall, teaser) is not None
    assert doubt(teaser[:20], teaser) is not None  # shorter than the teaser
    assert doubt(teaser + " وقال الوزير إن المستشفى سيفتح أبوابه الشهر المقبل.", teaser) is None
