"""The records between stages: what stands for a story."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from briefing.models import Article, Story

T0 = datetime(2026, 11, 29, 5, tzinfo=UTC)


def _article(number: int, title: str, *, minutes: int = 0, weight: float = 1.0) -> Article:
    return Article(
        id=f"a{number}",
        feed=f"feed{number}",
        source=f"source{number}",
        section="news",
        url=f"https://example.org/{number}",
        title=title,
        text="نص الخبر كما نشر.",
        published=T0 + timedelta(minutes=minutes),
        weight=weight,
    )


def test_the_headline_comes_from_an_article_that_has_a_title() -> None:
    untitled = _article(1, "", minutes=0, weight=2.0)  # earliest, best feed, but no title
    titled = _article(2, "افتتاح معرض الكتاب في الرياض", minutes=30)
    story = Story.of("s", [untitled, titled])
    assert story.lead == titled
    assert story.headline == "افتتاح معرض الكتاب في الرياض"


def test_a_story_without_any_title_is_headed_by_its_opening_words_as_published() -> None:
    line = "أعلنت وزارة الصحة اليوم افتتاح مستشفى جديد في العاصمة بسعة خمسمئة سرير وقالت إنه سيخدم"
    article = replace(_article(1, "   "), description=f"{line} مليون نسمة.\nسطر ثان")
    headline = Story.of("s", [article]).headline
    assert headline == " ".join(line.split()[:14]) + " …" and line.startswith(headline[:-2])
    short = replace(_article(1, ""), description="", text="وصل الوفد.\nثم تحدث")
    assert Story.of("s", [short]).headline == "وصل الوفد."
