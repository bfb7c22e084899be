"""Feed bytes -> Articles. feedparser's dicts stop here; the rest of the code sees Article."""

from __future__ import annotations

import calendar
import email.utils
import hashlib
import html
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import feedparser
import lxml.html
from lxml.etree import ParserError

from briefing.config import Feed
from briefing.errors import FeedError
from briefing.ingest.language import detect_language
from briefing.models import Article

log = logging.getLogger(__name__)

_TRACKING = re.compile(
    r"^(utm_.*|fbclid|gclid|dclid|msclkid|yclid|igshid|mc_[a-z]+|ocid|ref|ref_src|cmpid|"
    r"at_medium|at_campaign|at_[a-z_]+|xtor|__twitter_impression|_ga|ito|ns_[a-z]+|rss)$"
)
_BLOCK_TAGS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr", "blockquote")
# An item's title, description or text is cut to this many characters: no real article is
# longer, and a hostile feed cannot make one item huge.
MAX_ITEM_CHARS = 200_000
_SPACES = re.compile(r"[ \t\u00a0]+")
# An item cannot have been published after it was fetched. A few minutes ahead is a
# publisher's clock; more is a wrong time zone (local time labelled GMT puts a Gulf site's
# items three or four hours ahead) or a bad date, and would put the item first in its story
# and in the edition window for days. Past this skew the fetch time stands in, flagged.
FUTURE_SKEW = timedelta(minutes=10)


def canonical_url(url: str) -> str:
    """Lowercase scheme and host, drop the fragment and tracking parameters."""
    parts = urlsplit(url.strip())
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING.match(k.lower())
    ]
    path = parts.path or "/"
    host = parts.netloc.lower()
    for scheme, port in (("http", ":80"), ("https", ":443")):
        if parts.scheme.lower() == scheme and host.endswith(port):
            host = host.removesuffix(port)  # the default port says nothing
    return urlunsplit((parts.scheme.lower(), host, path, urlencode(query), ""))


def article_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def normalized_hash(key: str) -> str:
    """An article's content_hash: of its title and text, normalized."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment, one paragraph a line. Scripts and styles are dropped."""
    if "<" not in markup:
        return _tidy(html.unescape(markup))
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (ParserError, ValueError):
        return _tidy(html.unescape(re.sub(r"<[^>]+>", " ", markup)))
    for bad in root.xpath("//script|//style|//noscript|//iframe"):
        bad.drop_tree()
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
    return _tidy(root.text_content())


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


@dataclass(slots=True)
class _Fixes:
    """What one document's items needed fixed, told once in the feed's warning."""

    cut: list[str] = field(default_factory=list)  # cut to MAX_ITEM_CHARS: their links
    ahead: list[timedelta] = field(default_factory=list)  # dated after they were fetched
    # Items with no date at all: their ids. Not a problem in itself; the run decides (a
    # feed's first read cannot tell this morning's undated items from last year's).
    undated: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        said = []
        if self.cut:
            said.append(
                f"{len(self.cut)} item(s) longer than {MAX_ITEM_CHARS} characters were cut "
                f"(first: {self.cut[0]})"
            )
        if self.ahead:
            hours = max(self.ahead).total_seconds() / 3600
            said.append(
                f"{len(self.ahead)} item(s) dated in the future (up to {hours:.1f} h ahead of "
                "the fetch): their fetch time stands in; if the feed writes its local time "
                "as GMT, set its timezone in feeds.yaml"
            )
        return said


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    articles: list[Article]
    entries: int  # entries in the document, usable or not
    warning: str | None = None  # a problem that did not stop parsing (bozo feed)
    undated: tuple[str, ...] = ()  # ids of the articles the feed gave no date
    title: str = ""  # the feed's own title, as published


def parse_feed(
    content: bytes, headers: dict[str, str], feed: Feed, fetched_at: datetime
) -> list[Article]:
    """Parse one feed document. Raises FeedError when it holds no entries at all."""
    return parse_document(content, headers, feed, fetched_at).articles


def parse_document(
    content: bytes, headers: dict[str, str], feed: Feed, fetched_at: datetime
) -> ParsedFeed:
    """Parse one feed document; raise FeedError when it holds no entries at all.

    feedparser reads the encoding from the HTTP headers, the XML declaration or a BOM
    (windows-1256 included); a feed with problems is accepted when its entries parse.
    """
    if not content.strip():
        raise FeedError("empty response: the server sent no content", hint="check the feed URL")
    if declares_entities(content):
        raise FeedError(
            "the feed declares XML entities, which feeds never need; "
            "refused to avoid entity expansion",
            hint="a feed whose few bytes expand to millions of characters is an attack",
        )
    # No sanitizing in feedparser: html_to_text keeps only text (scripts and styles dropped),
    # and sanitizing doubled the parse time.
    parsed = feedparser.parse(
        content, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    if parsed.bozo and not parsed.entries:
        if _looks_like_html(content, headers):
            named = feed_links(content, feed.url)
            if named:
                more = f" (or {', '.join(named[1:])})" if named[1:] else ""
                raise FeedError(
                    f"the URL serves an HTML page, not an RSS/Atom feed; the page names its "
                    f"feed: {named[0]}{more}",
                    hint="put that URL in feeds.yaml",
                )
            raise FeedError(
                "the URL serves an HTML page, not an RSS/Atom feed",
                hint="find the page's feed link (often /rss or /feed) and use that URL",
            )
        problem = parsed.get("bozo_exception")
        raise FeedError(
            f"not a readable RSS/Atom document: {problem}",
            hint="open its URL in a browser; it may serve an error page or broken XML",
        )
    if not parsed.entries:
        raise FeedError("the feed has no items", hint="the feed is empty or not a feed")
    problems = []  # logged by the run as one warning: this may run in a worker process
    if parsed.bozo:
        problems.append(f"feed read despite problems: {parsed.get('bozo_exception')}")
    fixes = _Fixes()
    articles = [_entry_to_article(entry, feed, fetched_at, fixes) for entry in parsed.entries]
    problems += fixes.problems()
    warning = "; ".join(problems) or None
    return ParsedFeed(
        [a for a in articles if a is not None],
        len(parsed.entries),
        warning,
        tuple(fixes.undated),
        " ".join(str(parsed.feed.get("title", "")).split()),
    )


def declares_entities(content: bytes) -> bool:
    """Whether a document declares XML entities (`<!ENTITY` after `<!DOCTYPE`).

    Entities can be declared only in a DOCTYPE, which comes before the root element; feeds
    never need them, and their expansion is how a small document becomes a huge one. (Once
    a DOCTYPE is seen, `<!ENTITY` anywhere after it counts: scanning only the internal subset
    would have to get its quoting and comments exactly right, and a feed with a DOCTYPE and an
    article quoting "<!ENTITY" in CDATA is not worth that risk.) UTF-16 and UTF-32 documents
    are checked with their zero bytes dropped.
    """
    head = content[:4]
    if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        content = content.replace(b"\x00", b"")
    doctype = content.find(b"<!DOCTYPE")
    return doctype >= 0 and content.find(b"<!ENTITY", doctype) >= 0


def cut_text(text: str, limit: int = MAX_ITEM_CHARS) -> str:
    """`text` cut to at most `limit` characters: at its last line end within the limit, else
    its last space, else at the limit itself."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    for mark in ("\n", " "):
        end = head.rfind(mark)
        if end > limit // 2:
            return head[:end].rstrip()
    return head


_FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/rdf+xml"}


def feed_links(page: bytes, base: str, limit: int = 3) -> list[str]:
    """The feeds an HTML page announces (`<link rel="alternate" type="application/rss+xml"
    href=...>`, as sites do for browsers and readers), as absolute URLs, at most `limit`."""
    try:
        root = lxml.html.document_fromstring(page)
    except (ParserError, ValueError):
        return []
    found: list[str] = []
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        href = (link.get("href") or "").strip()
        if "alternate" in rel and kind in _FEED_TYPES and href:
            url = urljoin(base, href)
            if urlsplit(url).scheme in ("http", "https") and url not in found:
                found.append(url)
    return found[:limit]


def _looks_like_html(content: bytes, headers: dict[str, str]) -> bool:
    if "html" in headers.get("content-type", "").lower():
        return True
    head = content[:2048].lower()
    return b"<!doctype html" in head or b"<html" in head


def _entry_to_article(
    entry: dict, feed: Feed, fetched_at: datetime, fixes: _Fixes
) -> Article | None:
    """The entry as an Article (None when it has no key or no text); what had to be fixed
    in it (text cut to MAX_ITEM_CHARS, a date in the future) is noted in `fixes`."""
    link = entry.get("link") or ""
    guid = entry.get("id") or ""
    if link and urlsplit(link).scheme.lower() not in ("http", "https"):
        link = ""  # file:, javascript:, data: and other schemes never reach a reader or a fetch
    title = html_to_text(entry.get("title") or "").replace("\n", " ")
    description = html_to_text(entry.get("summary") or "")
    body = _body(entry)
    whole = (title, description, body)
    title, description, body = (cut_text(part) for part in whole)
    if (title, description, body) != whole:
        fixes.cut.append(link or guid or title[:80])
    if not (link or guid) or not (title or description):
        return None
    zone = ZoneInfo(feed.timezone) if feed.timezone else None
    published, estimated = _published(entry, fetched_at, fixes, zone)
    text = body if len(body) > len(description) else description
    url = canonical_url(link) if link else ""
    key = article_id(url or f"{feed.name}:{guid}")
    if not any(entry.get(f"{name}_parsed") for name in _DATE_KEYS):
        fixes.undated.append(key)
    return Article(
        id=key,
        feed=feed.name,
        source=feed.source or feed.name,
        section=feed.section,
        url=url,
        title=title,
        text=text,
        published=published,
        guid=guid,
        author=entry.get("author") or "",
        description=description,
        language=detect_language(f"{title}\n{description}", default=feed.language),
        published_estimated=estimated,
        raw_text=text,
        # No content_hash yet: finishing (work.finish_items) cleans the text and hashes it
        # then; hashing here too cost a normalization of every item for nothing.
        weight=feed.weight,
    )


def _body(entry: dict) -> str:
    """The longest full-content block an entry carries (content:encoded, atom content)."""
    blocks = [html_to_text(c.get("value") or "") for c in entry.get("content") or []]
    return max(blocks, key=len, default="")


def _published(
    entry: dict, fetched_at: datetime, fixes: _Fixes, zone: ZoneInfo | None = None
) -> tuple[datetime, bool]:
    """When the item was published, in UTC, and whether the fetch time stands in for it
    (no date in the feed, or a date past FUTURE_SKEW ahead of the fetch). With a `zone`
    (the feed's timezone) the date is read as written, as a local time there."""
    fetched = fetched_at.astimezone(UTC)
    for key in _DATE_KEYS:
        value = entry.get(f"{key}_parsed")
        if value:
            if zone is None:
                published = datetime.fromtimestamp(calendar.timegm(value), UTC)
            else:
                written = _as_written(entry.get(key) or "") or datetime(*value[:6])
                published = written.replace(tzinfo=zone).astimezone(UTC)
            if published - fetched > FUTURE_SKEW:
                fixes.ahead.append(published - fetched)
                return fetched, True
            return min(published, fetched), False
    return fetched, True


_DATE_KEYS = ("published", "updated", "created")  # an entry's dates, the first one found wins


def _as_written(date: str) -> datetime | None:
    """A feed's date and time as written, without the offset it claims (RFC 822, as RSS
    writes dates, or ISO 8601, as Atom does); None when it is neither. feedparser's parsed
    date cannot serve: it has already applied the offset."""
    try:
        parts = email.utils.parsedate_tz(date)
        if parts:
            return datetime(*parts[:6])
        return datetime.fromisoformat(date.strip()).replace(tzinfo=None)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
