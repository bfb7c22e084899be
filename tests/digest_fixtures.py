"""A fixed edition and configuration for the digest tests (render, golden files, delivery).

The news text is invented for these tests. It mixes Arabic with Latin names, numbers and a
percentage, so that right-to-left layout and bidi isolation have something to get wrong.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from briefing.config import Config, EmailSettings, Settings, Smtp, Subscriber
from briefing.models import Article, Edition, EditionStory, KeySentence, Story, Summary

BUILT = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # 06:00 in Riyadh


def article(story: str, n: int, source: str, title: str, section: str, minutes: int) -> Article:
    return Article(
        id=f"{story}-{n}",
        feed=source,
        source=source,
        section=section,
        url=f"https://news.example.org/{story}/{n}",
        title=title,
        text=title,
        published=BUILT - timedelta(minutes=minutes),
    )


def _story(
    story_id: str,
    section: str,
    titles: list[tuple[str, str]],
    sentences: list[str],
    *,
    abstract: str | None = None,
    updated: bool = False,
) -> EditionStory:
    articles = tuple(
        article(story_id, i, source, title, section, minutes=30 * (len(titles) - i))
        for i, (source, title) in enumerate(titles)
    )
    summary = Summary(
        story_id=story_id,
        key_sentences=tuple(
            KeySentence(text=s, article_id=articles[0].id, sources=(articles[0].source,))
            for s in sentences
        ),
        abstract=abstract,
        model="tiny-test-model" if abstract else None,
    )
    return EditionStory(
        story=Story(id=story_id, articles=articles, section=section, updated=updated),
        summary=summary,
    )


def fixed_edition() -> Edition:
    summit = _story(
        "summit",
        "politics",
        [
            ("وكالة النخيل", "وزير الخارجية يلتقي نظيره في Geneva لبحث اتفاق COP31"),
            ("قناة الواحة", "لقاء في جنيف بين وزيري الخارجية"),
            ("صحيفة الساحل", "محادثات جنيف تتناول المناخ والتجارة"),
        ],
        [
            "التقى وزير الخارجية نظيره في مدينة Geneva صباح الأحد لبحث مسودة اتفاق COP31.",
            "وقال المتحدث إن الجولة الثانية ستعقد في 15 ديسمبر، وإن النص منشور على example.org.",
        ],
        abstract="وزيرا الخارجية بحثا في جنيف مسودة اتفاق المناخ COP31 قبل جولة 15 ديسمبر.",
        updated=True,
    )
    rates = _story(
        "rates",
        "economy",
        [
            ("صحيفة الساحل", "المركزي يخفض الفائدة إلى 4.25% لأول مرة منذ عامين"),
            ("وكالة النخيل", "خفض سعر الفائدة ربع نقطة"),
        ],
        ["قرر البنك المركزي خفض سعر الفائدة الرئيسي ربع نقطة مئوية إلى 4.25 في المئة."],
    )
    markets = _story(
        "markets",
        "economy",
        [(f"مصدر {i}", f"الأسهم ترتفع بعد قرار الفائدة ({i})") for i in range(1, 12)],
        ["ارتفع المؤشر العام 2.3 في المئة في أول جلسة بعد القرار."],
    )
    cup = _story(
        "cup",
        "sports",
        [("الواحة الرياضية", "منتخب الواحة يتأهل إلى النهائي بهدف في الدقيقة 88")],
        ["سجل سالم العتيبي هدف الفوز في الدقيقة 88 أمام منتخب الجبل."],
    )
    fair = _story(
        "fair",
        "culture",
        [("Sahel Culture", "Sahel Book Fair opens with 300 publishers")],
        ["تنطلق الدورة العاشرة من معرض الساحل للكتاب بمشاركة 300 دار نشر."],
    )
    return Edition(
        id="2026-11-29",
        day=date(2026, 11, 29),
        created=BUILT,
        stories=(summit, rates, markets, cup, fair),
    )


def latin_led() -> EditionStory:
    """A story whose Arabic text opens with Latin: a headline that starts with a name, key
    sentences that start with an agency's credit, and one key sentence all in English. The
    first strong character of each is Latin, so dir="auto" would lay them out left to right."""
    return _story(
        "protests",
        "politics",
        [("CNN", "Omar Razzaz يكلَّف بتشكيل حكومة أردنية جديدة بعد الاحتجاجات")],
        [
            "(CNN)-- تجددت الاحتجاجات مساء الاثنين في العاصمة الأردنية عمان في محيط المقر "
            "الحكومي ومدن أخرى، وحاول آلاف المحتجين الوصول إلى منطقة الدوار الرابع وسط "
            "تعزيزات أمنية كثيفة.",
            "Protesters gathered again near the Prime Ministry in Amman on Monday evening.",
        ],
        abstract="AFP: المحتجون في عمان يطالبون بسحب قانون الضريبة.",
    )


def one_source_twice() -> EditionStory:
    """Three articles from two sources: "وكالة النخيل" carried the event twice, the second
    time through another of its feeds (same source, another feed), as a site's article
    listed under two of its feed's sections does."""
    item = _story(
        "talks",
        "politics",
        [
            ("وكالة النخيل", "محادثات جديدة حول الحدود"),
            ("قناة الواحة", "جولة محادثات حول الحدود"),
            ("وكالة النخيل", "انتهاء جولة المحادثات حول الحدود"),
        ],
        ["بدأت جولة جديدة من المحادثات حول ترسيم الحدود صباح الأحد."],
    )
    first, second, third = item.story.articles
    third = replace(third, feed="وكالة النخيل - عاجل")
    return replace(item, story=replace(item.story, articles=(first, second, third)))


def ranked_sections() -> Edition:
    """Eight stories in rank order: four in politics, then two in economy, then two in
    culture, whose stories all rank below every other."""
    plan = [("politics", 4), ("economy", 2), ("culture", 2)]
    stories = [
        _story(f"{section}-{i}", section, [("وكالة النخيل", f"خبر {i} في {section}")], ["جملة."])
        for section, n in plan
        for i in range(1, n + 1)
    ]
    return replace(fixed_edition(), stories=tuple(stories))


def grew_over_days() -> EditionStory:
    """A story whose first reports are days old: the dam's sources published 3 days and
    4.5 hours before the edition (01:30 on 26 November in Riyadh, 22:30 on the 25th in UTC),
    24 hours and a minute before it, and exactly 24 hours before it."""
    item = _story(
        "dam",
        "politics",
        [
            ("وكالة النخيل", "تصدع في جدار سد الوادي"),
            ("قناة الواحة", "إخلاء القرى القريبة من سد الوادي"),
            ("صحيفة الساحل", "بدء ترميم سد الوادي"),
        ],
        ["بدأت فرق الصيانة ترميم جدار سد الوادي بعد إخلاء القرى القريبة منه."],
    )
    ages = (
        timedelta(days=3, hours=4, minutes=30),
        timedelta(hours=24, minutes=1),
        timedelta(hours=24),
    )
    articles = tuple(
        replace(a, published=BUILT - age) for a, age in zip(item.story.articles, ages, strict=True)
    )
    return replace(item, story=replace(item.story, articles=articles))


def with_story(edition: Edition, item: EditionStory) -> Edition:
    """The edition with `item` ranked first."""
    return replace(edition, stories=(item, *edition.stories))


SUBSCRIBERS = (
    Subscriber(email="reader@example.org", name="سارة"),
    Subscriber(email="economy@example.org", sections=("economy",), max_stories=1),
    Subscriber(email="text-only@example.org", format="text", eastern_digits=True),
    Subscriber(email="english@example.org", language="en"),
)


def fixed_config(tmp: Path, *, smtp: Smtp | None = None, database: str | None = None) -> Config:
    settings = Settings(
        title="موجز الصباح",
        timezone="Asia/Riyadh",
        database=database or str(tmp / "briefing.db"),
        outbox=str(tmp / "outbox"),
        sections={"politics": "سياسة", "economy": "اقتصاد", "sports": "رياضة", "culture": "ثقافة"},
        smtp=smtp or Smtp(),
        email=EmailSettings(
            sender="briefing@example.org",
            sender_name="موجز الصباح",
            unsubscribe_mailto="mailto:unsubscribe@example.org",
            unsubscribe_url="https://example.org/unsubscribe",
        ),
    )
    return Config(path=tmp / "briefing.yaml", settings=settings, feeds=(), subscribers=SUBSCRIBERS)


def subscriber(email: str) -> Subscriber:
    return next(s for s in SUBSCRIBERS if s.email == email)
