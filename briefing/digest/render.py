"""The digest, per subscriber: right-to-left HTML with inline CSS, and the same as plain text.

Python prepares plain view records (what to show, already cut, counted, localised and made
safe); the Jinja2 templates in `templates/` only lay them out, so editors can change the look
without touching code. Autoescape is on for HTML: feed text is always text, never markup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import css_inline
import yaml
from hijridate import Gregorian
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)

from briefing.config import Config, EmailSettings, Subscriber
from briefing.errors import ConfigError
from briefing.models import Article, Digest, Edition, EditionStory

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
INDEX_SIZE = 5  # how many headlines the index at the top lists
GMAIL_CLIP_BYTES = 102_000  # Gmail hides the rest of a longer HTML body behind "View entire"

_AR_MONTHS = (
    "يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو",
    "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر",
)  # fmt: skip
_AR_DAYS = ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد")
_EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EASTERN = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
# Bidi embeddings, overrides and isolates inside feed text could reorder what follows them
# (an unclosed U+202E turns the rest of a line backwards); layout direction is ours to set.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SAFE_SCHEMES = ("http", "https")
# What a URL keeps as written when its other characters are percent-encoded: its own
# punctuation (RFC 3986 reserved characters) and the % of an existing %XX escape.
_URL_KEEP = "!#$%&'()*+,/:;=?@[]~"
_LONE_PERCENT = re.compile("%(?![0-9A-Fa-f]{2})")
# Interface languages written right to left; any other gets dir="ltr" on its strings.
_RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})


@dataclass(frozen=True, slots=True)
class DateLine:
    gregorian: str
    hijri: str


@dataclass(frozen=True, slots=True)
class Greeting:
    """The greeting line in pieces, so that the HTML part can isolate the name: a Latin name
    in an Arabic greeting (or an Arabic one in an English greeting) would otherwise pull the
    story count beside it to the wrong side. str() is the whole line, as the text part and
    templates that predate the pieces show it."""

    before: str
    name: str
    after: str

    def __str__(self) -> str:
        return f"{self.before}{self.name}{self.after}"

    def __bool__(self) -> bool:
        return bool(str(self))


@dataclass(frozen=True, slots=True)
class SourceLink:
    name: str
    day: str  # "3 يونيو" when published over 24 hours before the edition, else ""
    time: str  # local time of publication, digits as the subscriber wants them
    url: str | None  # None when the feed gave a link that is not http(s)


@dataclass(frozen=True, slots=True)
class StoryView:
    anchor: str
    headline: str
    updated: bool
    abstract: str | None  # machine-written, shown with its label
    key_sentences: tuple[str, ...]
    sources_label: str  # "مصدران", "3 مصادر", or the plain label for one source
    several_sources: bool
    links: tuple[SourceLink, ...]


@dataclass(frozen=True, slots=True)
class SectionView:
    title: str
    stories: tuple[StoryView, ...]


# ---- small pure helpers --------------------------------------------------------------


def plural_category(n: int, language: str = "ar") -> str:
    """The CLDR plural category of n: Arabic has six, English two."""
    if language != "ar":
        return "one" if n == 1 else "other"
    if n == 0:
        return "zero"
    if n == 1:
        return "one"
    if n == 2:
        return "two"
    if 3 <= n % 100 <= 10:
        return "few"
    if 11 <= n % 100 <= 99:
        return "many"
    return "other"


def count_phrase(n: int, forms: dict[str, str], language: str = "ar") -> str:
    """'مصدران', '3 مصادر', '11 مصدرًا', '100 مصدر': the noun agrees with the number."""
    form = forms.get(plural_category(n, language)) or forms["other"]
    return form.format(n=n)


def eastern_digits(text: str) -> str:
    return text.translate(_EASTERN)


def safe_url(url: str) -> str | None:
    """The link when it is http(s), else None: `javascript:`, `data:` and friends never link.

    HTML hrefs keep the link as published (an IRI: every browser and Gmail encode it
    themselves, and an Arabic letter is 2 bytes raw against 6 encoded, which pushed a
    40-story digest past Gmail's 102 KB clip). The text part writes it with `ascii_url`.
    """
    cleaned = _CONTROL_CHARS.sub("", url).strip()
    parts = urlsplit(cleaned)
    if parts.scheme.lower() in _SAFE_SCHEMES and parts.netloc:
        return cleaned
    return None


def ascii_url(url: str) -> str:
    """`url` with its host in IDNA form and every other non-ASCII character (and any
    character a URL may not hold as is, such as a space or a quote) percent-encoded as
    UTF-8, for the text part: a raw Arabic path there was cut short by mail clients' link
    detection and reordered by the bidi algorithm. The URL's own punctuation and its
    existing %XX escapes stay as they are."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.isascii():
        try:
            port = parts.port
            userinfo, at, _ = parts.netloc.rpartition("@")
            idna = host.encode("idna").decode("ascii")
        except (UnicodeError, ValueError):  # not a name IDNA can spell, or a bad port
            pass
        else:
            netloc = f"{userinfo}{at}{idna}" + (f":{port}" if port is not None else "")
            url = urlunsplit(parts._replace(netloc=netloc))
    return quote(_LONE_PERCENT.sub("%25", url), safe=_URL_KEEP)


def text_direction(text: str) -> str:
    """The direction of the text's majority script: "rtl" when it has at least as many
    right-to-left letters (Arabic) as left-to-right ones (Latin), else "ltr".

    dir="auto" takes the first strong character instead, so an Arabic sentence that opens
    with a Latin credit ("(CNN)-- تجددت الاحتجاجات ...") was laid out left to right: its
    bullet on the left, outside the page, the full stop at the wrong end. Digits and
    punctuation have no say; text without letters reads right to left, as the page does.
    """
    rtl = ltr = 0
    for char in text:
        if not char.isalpha():
            continue
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            rtl += 1
        elif kind == "L":
            ltr += 1
    return "rtl" if rtl >= ltr else "ltr"


def line_mark(text: str) -> str:
    """For a line of the plain-text part: the invisible mark (RLM or LRM) that gives the line
    its text's majority direction when its first strong character would give the other.

    Plain text has no `dir`: a reader takes each line's direction from its first strong
    character, so "- (CNN)-- تجددت الاحتجاجات ..." would read left to right, its dash on the
    left and "(CNN)--" moved to the wrong end. Empty when the first strong one agrees.
    """
    wanted = text_direction(text)
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "" if wanted == "rtl" else _LRM
        if kind == "L":
            return "" if wanted == "ltr" else _RLM
    return ""


_RLM, _LRM = "\u200f", "\u200e"


def clean_text(text: str) -> str:
    """Feed text as published, minus invisible controls that could scramble the layout."""
    return _BIDI_CONTROLS.sub("", _CONTROL_CHARS.sub("", text)).strip()


def greeting(form: str, name: str) -> Greeting:
    """strings.yaml's greeting ("صباح الخير {name}") with the subscriber's name, in pieces."""
    before, marker, after = form.partition("{name}")
    name = name.strip()
    if not (marker and name):  # no name to isolate: the line as it reads
        return Greeting(before=form.replace("{name}", "").strip(), name="", after="")
    return Greeting(before=before.lstrip(), name=name, after=after.rstrip())


def unsubscribe_links(email: EmailSettings, address: str) -> tuple[str | None, str | None]:
    """The subscriber's mailto and https unsubscribe addresses, {email} and {token} filled
    in (load_config has checked that the secret {token} needs is set)."""
    mailto, url = email.unsubscribe_mailto, email.unsubscribe_url
    values = {"{email}": quote(address, safe="@")}
    if "{token}" in f"{mailto}{url}":
        values["{token}"] = unsubscribe_token(address, os.environ[email.unsubscribe_secret_env])

    def filled(link: str | None) -> str | None:
        for placeholder, value in values.items():
            link = link.replace(placeholder, value) if link else None
        return link

    return filled(mailto), filled(url)


def unsubscribe_token(address: str, secret: str) -> str:
    """What {token} stands for: HMAC-SHA256 of the lowercased address under the secret,
    base64url without padding, its first 22 characters (128 bits). An unsubscribe page
    computes the same from the address it is given and compares."""
    mac = hmac.new(secret.encode(), address.lower().encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:22]


def edition_date(day: date, language: str = "ar") -> DateLine:
    """'الأحد 29 نوفمبر 2026' and '19 جمادى الآخرة 1448 هـ' (or the English equivalents).

    The Hijri date is left empty outside hijridate's table (1924-2077).
    """
    try:
        hijri = Gregorian(day.year, day.month, day.day).to_hijri()
    except OverflowError:
        hijri = None
    if language == "ar":
        return DateLine(
            gregorian=f"{_AR_DAYS[day.weekday()]} {day.day} {_AR_MONTHS[day.month - 1]} {day.year}",
            hijri=f"{hijri.day} {hijri.month_name('ar')} {hijri.year} هـ" if hijri else "",
        )
    return DateLine(
        gregorian=f"{_EN_DAYS[day.weekday()]} {day.day} {_EN_MONTHS[day.month - 1]} {day.year}",
        hijri=f"{hijri.day} {hijri.month_name('en')} {hijri.year} AH" if hijri else "",
    )


def publication_time(
    published: datetime, as_of: datetime, zone: ZoneInfo, language: str = "ar"
) -> tuple[str, str]:
    """A source's publication in the edition's zone, as (day, time). Within the 24 hours
    before the edition the time alone ("10:30") can mean only its last occurrence; an older
    article (a story that grew over days keeps its first reports) gets the day too
    ("3 يونيو"), or a reader takes it for yesterday's news."""
    local = published.astimezone(zone)
    time = local.strftime("%H:%M")
    if published >= as_of - timedelta(hours=24):
        return "", time
    months = _AR_MONTHS if language == "ar" else _EN_MONTHS
    return f"{local.day} {months[local.month - 1]}", time


def arabic_date(day: date) -> DateLine:
    return edition_date(day, "ar")


# ---- templates and strings -----------------------------------------------------------


def templates_dir(config: Config) -> Path:
    """`email.templates` from briefing.yaml (relative to it), else the project's templates."""
    chosen = config.settings.email.templates
    return (config.base_dir / chosen).resolve() if chosen else TEMPLATES_DIR


@lru_cache(maxsize=4)
def environment(folder: Path = TEMPLATES_DIR) -> Environment:
    return Environment(
        loader=FileSystemLoader(folder),
        # Everything is escaped except the plain-text part, which is not HTML.
        autoescape=lambda name: not (name or "").endswith(".txt.j2"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def load_strings(folder: Path = TEMPLATES_DIR) -> dict[str, dict[str, Any]]:
    """The folder's strings.yaml, else the stock one (custom templates may keep the stock
    strings). Read again whenever the file changes, so that an editor's edit reaches a
    long-running `briefing serve` at its next edition, as edited templates do (Jinja2
    checks their modification time too)."""
    path = folder / "strings.yaml"
    if not path.is_file():
        path = TEMPLATES_DIR / "strings.yaml"
    stat = path.stat()
    return _read_strings(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _read_strings(path: Path, _mtime_ns: int, _size: int) -> dict[str, dict[str, Any]]:
    """Parsed once per version of the file: the modification time and size are the key."""
    strings: dict[str, dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return strings


# Gmail drops <head> styles in some views: every rule is inlined, and only what cannot be
# inlined (the dark-mode media query) stays in <head> for the clients that honour it.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)

# A tag (its attributes may hold spaces) or a run of other non-space characters.
_HTML_PIECE = re.compile(r"<[^>]*>|[^\s<]+|<")
LINE_OCTETS = 900  # SMTP allows 998; the margin is for a line end rewritten on the way


# ---- the digest ----------------------------------------------------------------------


def stories_for(edition: Edition, subscriber: Subscriber) -> list[EditionStory]:
    """The subscriber's sections (all when none are listed), at most max_stories, in rank order.

    When the limit cuts a reader of several sections, each of those sections that has
    stories first gets its best one (sections taken by the rank of their best story, while
    the limit lasts), and the rest of the limit goes by overall rank. Cutting the overall
    ranking alone left a reader of every section with no culture story at all on a day of
    seven culture articles, as politics outranked them all.
    """
    wanted = set(subscriber.sections)
    chosen = [s for s in edition.stories if not wanted or s.story.section in wanted]
    limit = subscriber.max_stories
    if len(chosen) <= limit or len(wanted) == 1:
        return chosen[:limit]
    best: dict[str, int] = {}  # section -> position of its best story in `chosen`
    for i, item in enumerate(chosen):
        best.setdefault(item.story.section, i)
    picked = set(list(best.values())[:limit])
    for i in range(len(chosen)):
        if len(picked) >= limit:
            break
        picked.add(i)
    return [item for i, item in enumerate(chosen) if i in picked]


def render_digest(edition: Edition, subscriber: Subscriber, config: Config) -> Digest:
    """One subscriber's digest; a template that is missing, broken or unreadable (edited
    since check-config) is a ConfigError naming the file, not a traceback."""
    folder = templates_dir(config)
    try:
        return _render_digest(edition, subscriber, config, folder)
    except TemplateNotFound as exc:
        where = "email.templates in briefing.yaml" if config.settings.email.templates else "stock"
        problem = (
            f"{folder}: no template {exc.name} ({where}; copy it from the project's templates/)"
        )
    except TemplateSyntaxError as exc:
        problem = f"{exc.filename or folder}:{exc.lineno}: template error: {exc.message}"
    except TemplateError as exc:
        problem = f"{folder}: template error: {exc.message}"
    except OSError as exc:
        problem = f"{exc.filename or folder}: email template cannot be read: {exc.strerror}"
    except yaml.YAMLError as exc:
        problem = f"{folder / 'strings.yaml'}: not valid YAML: {exc}"
    raise ConfigError([problem])


def _render_digest(
    edition: Edition, subscriber: Subscriber, config: Config, folder: Path
) -> Digest:
    strings = load_strings(folder)[subscriber.language]
    digits = _digits(subscriber)
    stories = stories_for(edition, subscriber)
    views = {
        item.story.id: _story_view(
            item, f"story-{i}", strings, subscriber, config, digits, edition.created
        )
        for i, item in enumerate(stories, start=1)
    }
    dateline = edition_date(edition.day, subscriber.language)
    dateline = DateLine(gregorian=digits(dateline.gregorian), hijri=digits(dateline.hijri))
    mailto, url = unsubscribe_links(config.settings.email, subscriber.email)
    context = {
        "title": config.settings.title,
        "dateline": dateline,
        "greeting": greeting(strings["greeting"], subscriber.name),
        "count": digits(count_phrase(len(stories), strings["stories_today"], subscriber.language)),
        "index": [views[item.story.id] for item in stories[:INDEX_SIZE]],
        "sections": _sections(stories, views, config),
        "t": strings,
        "lang": subscriber.language,  # of the interface strings; the news stays Arabic
        "ui_dir": "rtl" if subscriber.language in _RTL_LANGUAGES else "ltr",
        "digits": digits,
        "text_dir": text_direction,
        "ascii_url": ascii_url,
        "line_mark": line_mark,
        "has_abstracts": any(v.abstract for v in views.values()),
        "unsubscribe_url": safe_url(url or ""),
        "unsubscribe_mailto": mailto,
    }
    env = environment(folder)
    text = env.get_template("digest.txt.j2").render(**context)
    html = None
    if subscriber.format == "html":
        html = compact_lines(_INLINER.inline(env.get_template("digest.html.j2").render(**context)))
        size = len(html.encode())  # bytes: an Arabic letter is two, a character count half
        if size > GMAIL_CLIP_BYTES:
            log.warning("digest for %s is %d bytes: Gmail clips it", subscriber.email, size)
    return Digest(
        subscriber=subscriber.email,
        edition_id=edition.id,
        subject=f"{config.settings.title} | {dateline.gregorian}",
        html=html,
        text=text,
        story_ids=tuple(s.story.id for s in stories),
    )


def compact_lines(html: str, width: int = LINE_OCTETS) -> str:
    """The same page in few long lines: every run of whitespace becomes one space or one line
    break, whichever keeps lines within `width` octets.

    A browser renders any run of whitespace (outside <pre>, which digests do not use) as one
    space, so the page looks the same. Fewer lines matter for mail: relays and clients work
    line by line, and the template's indentation made a digest hundreds of short lines. Breaks
    fall between tags or words, never inside a tag, so attribute values stay as written.
    """
    lines: list[str] = []
    line, size = "", 0
    for chunk in _chunks(html):
        octets = len(chunk.encode("utf-8"))
        if line and size + 1 + octets > width:
            lines.append(line)
            line, size = chunk, octets
        else:
            line, size = (f"{line} {chunk}", size + 1 + octets) if line else (chunk, octets)
    return "\n".join([*lines, line]) + "\n"


def _chunks(html: str) -> list[str]:
    """Pieces of the page that touch each other (no whitespace between), in order."""
    chunks: list[str] = []
    end = 0
    for match in _HTML_PIECE.finditer(html):
        if chunks and match.start() == end:
            chunks[-1] += match.group()
        else:
            chunks.append(match.group())
        end = match.end()
    return chunks


def _digits(subscriber: Subscriber) -> Callable[[object], str]:
    if subscriber.eastern_digits:
        return lambda value: eastern_digits(str(value))
    return str


def _story_view(
    item: EditionStory,
    anchor: str,
    strings: dict[str, Any],
    subscriber: Subscriber,
    config: Config,
    digits: Callable[[object], str],
    as_of: datetime,
) -> StoryView:
    story, summary = item.story, item.summary
    zone = ZoneInfo(subscriber.timezone or config.settings.timezone)
    # One line per source, its earliest article, so that "N sources" counts the lines
    # under it (a site's article carried by two of its feeds, or a source's second
    # article on the event, was a line of its own).
    earliest: dict[str, Article] = {}
    for article in sorted(story.articles, key=lambda a: (a.published, a.id)):
        earliest.setdefault(article.source, article)
    n_sources = len(earliest)
    several = n_sources > 1
    label = (
        count_phrase(n_sources, strings["sources"], subscriber.language)
        if several
        else strings["sources_label"]
    )
    links = []
    for article in earliest.values():
        day, time = publication_time(article.published, as_of, zone, subscriber.language)
        links.append(
            SourceLink(
                name=clean_text(article.source),
                day=digits(day),
                time=digits(time),
                url=safe_url(article.url),
            )
        )
    return StoryView(
        anchor=anchor,
        headline=clean_text(story.headline),
        updated=story.updated,
        abstract=clean_text(summary.abstract) if summary.abstract else None,
        key_sentences=tuple(clean_text(s.text) for s in summary.key_sentences),
        sources_label=digits(label),
        several_sources=several,
        links=tuple(links),
    )


def _sections(
    stories: list[EditionStory], views: dict[str, StoryView], config: Config
) -> list[SectionView]:
    """Stories grouped by section, sections in the order briefing.yaml lists them."""
    order = list(config.settings.sections)
    groups: dict[str, list[StoryView]] = {}
    for item in stories:
        groups.setdefault(item.story.section, []).append(views[item.story.id])
    keys = sorted(groups, key=lambda s: order.index(s) if s in order else len(order))
    return [SectionView(title=config.section_title(k), stories=tuple(groups[k])) for k in keys]
