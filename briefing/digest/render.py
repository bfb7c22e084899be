"""Jinja2 rendering of the digest: right-to-left HTML with inline CSS, and plain text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import css_inline
from hijridate import Gregorian
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from briefing.config import Config, Subscriber
from briefing.models import Digest, Edition, EditionStory

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

_AR_MONTHS = (
    "يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو",
    "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر",
)  # fmt: skip
_AR_DAYS = ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد")
_EASTERN = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

# Interface strings; the news itself is never translated.
STRINGS = {
    "ar": {
        "index": "أبرز العناوين",
        "sources": "المصادر",
        "n_sources": "{n} مصادر",
        "machine": "ملخص آلي",
        "key_points": "أهم ما ورد",
        "updated": "محدّث",
        "unsubscribe": "إلغاء الاشتراك",
        "empty": "لا أخبار جديدة في أقسامك هذا الصباح.",
    },
    "en": {
        "index": "Top stories",
        "sources": "Sources",
        "n_sources": "{n} sources",
        "machine": "Machine-written summary",
        "key_points": "Key points",
        "updated": "Updated",
        "unsubscribe": "Unsubscribe",
        "empty": "No new stories in your sections this morning.",
    },
}


@dataclass(frozen=True, slots=True)
class DateLine:
    gregorian: str
    hijri: str


def arabic_date(day: date) -> DateLine:
    """'الأحد 29 نوفمبر 2026' and '19 جمادى الآخرة 1448 هـ'."""
    hijri = Gregorian(day.year, day.month, day.day).to_hijri()
    gregorian = f"{_AR_DAYS[day.weekday()]} {day.day} {_AR_MONTHS[day.month - 1]} {day.year}"
    return DateLine(
        gregorian=gregorian, hijri=f"{hijri.day} {hijri.month_name('ar')} {hijri.year} هـ"
    )


@lru_cache(maxsize=4)
def environment(templates_dir: Path = TEMPLATES_DIR) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        # Everything is escaped except the plain-text part, which is not HTML.
        autoescape=lambda name: not (name or "").endswith(".txt.j2"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local_time"] = lambda moment, zone: moment.astimezone(ZoneInfo(zone)).strftime(
        "%H:%M"
    )
    return env


def stories_for(edition: Edition, subscriber: Subscriber) -> list[EditionStory]:
    """The subscriber's sections (all when none are listed), at most max_stories, in rank order."""
    wanted = set(subscriber.sections)
    chosen = [s for s in edition.stories if not wanted or s.story.section in wanted]
    return chosen[: subscriber.max_stories]


def render_digest(edition: Edition, subscriber: Subscriber, config: Config) -> Digest:
    stories = stories_for(edition, subscriber)
    strings = STRINGS[subscriber.language]
    dateline = arabic_date(edition.day)
    sections = _by_section(stories, config)
    context = {
        "title": config.settings.title,
        "dateline": dateline,
        "edition": edition,
        "sections": sections,
        "stories": stories,
        "subscriber": subscriber,
        "t": strings,
        "zone": config.settings.timezone,
        "unsubscribe_url": config.settings.email.unsubscribe_url,
        "digits": (lambda s: str(s).translate(_EASTERN)) if subscriber.eastern_digits else str,
    }
    env = environment()
    text = env.get_template("digest.txt.j2").render(**context)
    html = None
    if subscriber.format == "html":
        html = css_inline.inline(env.get_template("digest.html.j2").render(**context))
    subject = f"{config.settings.title} | {dateline.gregorian}"
    return Digest(
        subscriber=subscriber.email,
        edition_id=edition.id,
        subject=subject,
        html=html,
        text=text,
        story_ids=tuple(s.story.id for s in stories),
    )


def _by_section(
    stories: list[EditionStory], config: Config
) -> list[tuple[str, list[EditionStory]]]:
    order = list(config.settings.sections)
    groups: dict[str, list[EditionStory]] = {}
    for item in stories:
        groups.setdefault(item.story.section, []).append(item)
    keys = sorted(groups, key=lambda s: order.index(s) if s in order else len(order))
    return [(config.section_title(k), groups[k]) for k in keys]


def local_datetime(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))
