"""Boilerplate cleaning: precision and recall of removed lines on a corpus of noisy lines.

Furniture lines (written for this test, Arabic and English) are mixed into news text: a few
sentences written here, and, where the shared data set is present, real article paragraphs
of the ANT corpus. A removed news line is a precision error; a kept furniture line a recall
error. Floors: precision 1.0 (no news sentence removed), recall 0.95.
"""

from __future__ import annotations

import random
import time

import pytest

from briefing.ingest.clean import Rules, clean_text, rules_for
from tests.shared_data import SHARED_DATA

FURNITURE = [
    "اقرأ أيضا: الحكومة تعلن خطة جديدة للنقل",
    "اقرأ أيضاً.. ارتفاع أسعار الذهب",
    "إقرأ المزيد",
    "شاهد أيضا: فيديو من موقع الحادث",
    "مواضيع ذات صلة",
    "أخبار متعلقة",
    "شارك هذا الخبر",
    "شاركوا المقال على فيسبوك",
    "تابعونا على تويتر",
    "اشترك الآن في النشرة البريدية",
    "للمزيد من التفاصيل اضغط هنا",
    "اضغط هنا لمشاهدة الفيديو",
    "حمل تطبيق الموقع",
    "فيسبوك | تويتر | واتساب | البريد الإلكتروني",
    "الصورة: أرشيفية",
    "(الصورة: رويترز)",
    "صورة أرشيفية",
    "تعليق على الصورة، متظاهرون في وسط المدينة",
    "المصدر: وكالات",
    "جميع الحقوق محفوظة © 2018",
    "تحرير: أحمد محمد",
    "الرئيسية > أخبار > الشرق الأوسط",
    "الرئيسية | سياسة | اقتصاد | رياضة | فن",
    "الأكثر قراءة",
    "الأربعاء، 28 آب/اغسطس 2013، آخر تحديث 14:00 (GMT+0400)",
    "Read more: Oil prices rise again",
    "READ ALSO",
    "Related articles",
    "Share this article",
    "Follow us on Twitter",
    "Subscribe to our newsletter",
    "Click here for the full story",
    "Photo: Reuters",
    "Image caption Protesters in the capital",
    "Copyright 2018 BBC",
    "Home > News > World",
    "Advertisement",
]
TRAILING_CREDITS = ["(رويترز)", "المصدر: فرانس برس", "(CNN)", "Reporting by Reuters"]
NEWS = [
    "قال وزير الخارجية إن المحادثات ستستأنف الأسبوع المقبل في جنيف.",
    "وأضاف المتحدث أن الحكومة ستنشر الصور الأولى للأقمار الاصطناعية غدا.",
    "وشارك في الاجتماع ممثلون عن عشر دول عربية.",
    "وتابع الرئيس قائلا إن الاقتصاد سينمو بنسبة ثلاثة في المئة.",
    "المصدر الرئيسي للدخل في البلاد هو النفط، بحسب البنك الدولي.",
    "وقرأ المتحدث بيان الوزارة أمام الصحفيين، ثم شارك في جلسة الأسئلة.",
    "صورة الوضع الاقتصادي قاتمة، بحسب تقرير صندوق النقد الدولي الصادر أمس.",
    "The minister said talks would resume next week in Geneva.",
    "Shares in the company rose 5% after the announcement.",
    "Related talks will take place in Cairo, officials said on Monday, without giving details.",
]
TITLE = "الحكومة تعلن خطة جديدة للنقل العام"
EN_TITLE = "Oil prices rise as OPEC extends output cuts"
EN_BODY = [  # written for this test: an English article opening with its headline again
    f"{EN_TITLE}.",
    "Oil prices rose on Thursday after OPEC agreed to extend its output cuts to the end of 2018.",
    "Brent crude was up 1.2% at $64.10 a barrel by midday in London.",
    "Analysts said the decision had been widely expected by the market.",
]


def _real_paragraphs(limit: int = 400) -> list[str]:
    if SHARED_DATA is None:
        return []
    from tests.ant_feeds import load_items

    paragraphs = [p.strip() for item in load_items() for p in item["text"].splitlines()]
    paragraphs = [p for p in paragraphs if len(p.split()) >= 6]
    return random.Random(7).sample(paragraphs, min(limit, len(paragraphs)))


def _articles(news: list[str]) -> list[tuple[str, str, set[str]]]:
    """(title, text, furniture lines in it): news sentences with furniture mixed in."""
    rng = random.Random(3)
    articles = []
    for start in range(0, len(FURNITURE), 3):
        body = rng.sample(news, 4)
        noise = FURNITURE[start : start + 3]
        lines = body[:2] + noise[:1] + body[2:] + noise[1:]
        credit = TRAILING_CREDITS[start // 3 % len(TRAILING_CREDITS)]
        lines = [TITLE, *lines, credit]
        articles.append((TITLE, "\n".join(lines), {TITLE, *noise, credit}))
    articles.append((EN_TITLE, "\n".join(EN_BODY), {EN_BODY[0]}))
    return articles


def furniture_lines(news: list[str]) -> int:
    return sum(len(furniture) for _, _, furniture in _articles(news))


def _precision_recall(rules: Rules, news: list[str]) -> tuple[float, float, list[str]]:
    removed_right = removed_wrong = furniture_total = 0
    wrong: list[str] = []
    missed: list[str] = []
    for title, text, furniture in _articles(news):
        cleaned = clean_text(text, title=title, rules=rules)
        removed = set(cleaned.removed)
        removed_right += len(removed & furniture)
        removed_wrong += len(removed - furniture)
        wrong += sorted(removed - furniture)
        missed += sorted(furniture - removed)
        furniture_total += len(furniture)
    # Every news line alone, too: nothing of it may go.
    for line in news:
        lost = clean_text(line, title=TITLE, rules=rules).removed
        removed_wrong += len(lost)
        wrong += list(lost)
    precision = removed_right / max(1, removed_right + removed_wrong)
    print("furniture kept:", missed)
    return precision, removed_right / furniture_total, wrong


def test_furniture_goes_and_news_stays() -> None:
    news = NEWS + _real_paragraphs()
    precision, recall, wrong = _precision_recall(rules_for(), news)
    print(
        f"boilerplate precision {precision:.3f} recall {recall:.3f} "
        f"({furniture_lines(news)} furniture lines, {len(news)} news lines)"
    )
    assert wrong == []
    assert precision == 1.0
    assert recall >= 0.95


def test_an_english_headline_repeated_as_the_first_line_goes() -> None:
    # Matched as normalized (any case) and without its closing full stop.
    assert clean_text("\n".join(EN_BODY), title=EN_TITLE).removed == (EN_BODY[0],)
    assert clean_text("\n".join(EN_BODY), title=EN_TITLE.upper()).removed == (EN_BODY[0],)


def test_the_kept_text_is_as_published_and_the_removed_lines_are_listed() -> None:
    text = "عنوان الخبر\nقالَ الوزيرُ إنّ الخطة ستبدأ.\nاقرأ أيضاً: خبر آخر\n(رويترز)"
    cleaned = clean_text(text, title="عنوان الخبر")
    assert cleaned.text == "قالَ الوزيرُ إنّ الخطة ستبدأ."  # tashkeel kept for readers
    assert cleaned.removed == ("عنوان الخبر", "اقرأ أيضاً: خبر آخر", "(رويترز)")


def test_a_credit_line_is_removed_only_at_the_end() -> None:
    text = "(رويترز)\nقال الوزير إن الخطة ستبدأ."
    assert clean_text(text).removed == ()


def test_per_feed_patterns_and_an_editors_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = "قال الوزير إن الخطة ستبدأ.\nحصريا على قناتنا\nإعلان: عروض الصيف"
    assert clean_text(text).removed == ()
    own = rules_for("channel", ("^حصريا علي قناتنا$",))
    assert clean_text(text, rules=own).removed == ("حصريا على قناتنا",)
    extra = tmp_path / "extra.yaml"
    extra.write_text("ar:\n  - '^اعلان\\s*:'\nfeeds:\n  other: ['^x$']\n", "utf-8")
    with_file = rules_for("channel", (), str(extra))
    assert clean_text(text, rules=with_file).removed == ("إعلان: عروض الصيف",)


def test_a_feeds_section_in_a_rules_file_applies_to_that_feed_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = "قال الوزير إن الخطة ستبدأ.\nحصريا على قناتنا\nوأضاف أن التنفيذ يبدأ غدا."
    extra = tmp_path / "extra.yaml"
    extra.write_text("feeds:\n  channel:\n    - '^حصريا علي قناتنا$'\n", "utf-8")
    assert clean_text(text, rules=rules_for("channel", (), str(extra))).removed == (
        "حصريا على قناتنا",
    )
    assert clean_text(text, rules=rules_for("other", (), str(extra))).removed == ()
    assert clean_text(text, rules=rules_for("channel")).removed == ()  # not without the file


def test_every_language_section_applies_to_every_article() -> None:
    """Sections are chosen by nobody: each rule names words of one script, so an Arabic line
    never meets an English rule, and an English furniture line goes from an Arabic page too."""
    arabic = "قال الوزير إن الخطة ستبدأ.\nShare this article\nوأضاف أن التنفيذ يبدأ غدا."
    assert clean_text(arabic).removed == ("Share this article",)
    english = "The minister said the plan would start.\nاقرأ أيضا: خبر آخر\nHe added more."
    assert clean_text(english).removed == ("اقرأ أيضا: خبر آخر",)
    # Only English rules, and only Arabic ones: neither touches the other script's lines.
    english_only, arabic_only = _section("en"), _section("ar")
    assert clean_text(NEWS[0] + "\nاقرأ أيضا: خبر آخر", rules=english_only).removed == ()
    assert clean_text(NEWS[7] + "\nRead more: other news", rules=arabic_only).removed == ()


def _section(name: str) -> Rules:
    from briefing.ingest.clean import _packaged_data, rules_from_data

    return rules_from_data({name: _packaged_data()[name]})


@pytest.mark.parametrize("line", ["اقرأ أيضا " + "كلمة " * 30])
def test_a_long_line_is_news_even_when_a_rule_matches(line: str) -> None:
    assert clean_text(line).removed == ()


def test_packaged_patterns_are_written_in_normalized_form() -> None:
    """Rules match normalized lines: a pattern with ة, أ, ى or ئ in it could never match."""
    from importlib import resources

    import yaml

    raw = resources.files("briefing.arabic").joinpath("data/boilerplate.yaml").read_text("utf-8")
    data = yaml.safe_load(raw)
    patterns = [
        item if isinstance(item, str) else item["pattern"]
        for key, items in data.items()
        if key != "feeds"
        for item in items
    ]
    folded = set("أإآٱىؤئةـ") | {chr(c) for c in range(0x064B, 0x0653)}
    assert [p for p in patterns if folded & set(p)] == []


def test_the_clean_command_lists_what_it_removes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from briefing.cli import main

    source = tmp_path / "in.jsonl"
    rows = [
        {"id": "1", "title": TITLE, "text": f"{TITLE}\n{NEWS[0]}\nاقرأ أيضا: خبر آخر"},
        {"id": "2", "text": f"{NEWS[1]}\n(رويترز)", "source": "agency"},
    ]
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    target = tmp_path / "out.jsonl"
    assert main(["clean", "--input", str(source), "--output", str(target)]) == 0
    out = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    assert out == [
        {"id": "1", "text": NEWS[0], "removed": [TITLE, "اقرأ أيضا: خبر آخر"]},
        {"id": "2", "text": NEWS[1], "removed": ["(رويترز)"]},
    ]
    source.write_text("not json\n", "utf-8")
    assert main(["clean", "--input", str(source), "--output", str(target)]) == 1


def test_a_huge_line_is_never_searched_by_the_rules() -> None:
    # One "word" of 300,000 characters repeating a rule's first word: `التعليقات.*(...)`
    # searched over it took time in the square of its length (20 s for 288 KB).
    line = "التعليقات" * 30_000
    text = f"{line}\nالتعليقات تخضع لشروط استخدام الموقع"
    start = time.perf_counter()
    cleaned = clean_text(text)
    assert time.perf_counter() - start < 1
    assert cleaned.text == line  # news or junk, but no rule's business
    assert cleaned.removed == ("التعليقات تخضع لشروط استخدام الموقع",)
