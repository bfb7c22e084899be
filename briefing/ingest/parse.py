"""Feed bytes -> Articles. feedparser's dicts stop here; the rest of the code sees Article."""

from __future__ import annotations

import calendar
import hashlib
import html
import logging
import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser
import lxml.html
from lxml.etree import ParserError

from briefing.arabic import normalize
from briefing.config import Feed
from briefing.errors import FeedError
from briefing.models import Article

log = logging.getLogger(__name__)

_TRACKING = re.compile(
    r"^(utm_.*|fbclid|gclid|mc_[a-z]+|ocid|ref|ref_src|cmpid|at_medium|at_campaign)$"
)
_BLOCK_TAGS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr", "blockquote")
_SPACES = re.compile(r"[ \t\u00a0]+")


def canonical_url(url: str) -> str:
    """Lowercase scheme and host, drop the fragment and tracking parameters."""
    parts = urlsplit(url.strip())
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING.match(k.lower())
    ]
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, urlencode(query), ""))


def article_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def content_hash(text: str) -> str:
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()[:32]


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


def parse_feed(
    content: bytes, headers: dict[str, str], feed: Feed, fetched_at: datetime
) -> list[Article]:
    """Parse one feed document. Raises FeedError when it holds no entries at all."""
    parsed = feedparser.parse(content, response_headers=headers, sanitize_html=True)
    if parsed.bozo and not parsed.entries:
        problem = parsed.get("bozo_exception")
        raise FeedError(
            f"feed {feed.name!r} is not a readable RSS/Atom document: {problem}",
            hint="open its URL in a browser; it may serve an HTML page or an error",
        )
    if parsed.bozo:
        log.warning("feed %r parsed with problems: %s", feed.name, parsed.get("bozo_exception"))
    if not parsed.entries:
        raise FeedError(f"feed {feed.name!r} has no items", hint="the feed is empty or not a feed")
    articles = (_entry_to_article(entry, feed, fetched_at) for entry in parsed.entries)
    return [a for a in articles if a is not None]


def _entry_to_article(entry: dict, feed: Feed, fetched_at: datetime) -> Article | None:
    link = entry.get("link") or ""
    guid = entry.get("id") or ""
    if link and urlsplit(link).scheme not in ("http", "https"):
        link = ""  # javascript:, data: and other schemes never reach a reader
    title = html_to_text(entry.get("title") or "").replace("\n", " ")
    description = html_to_text(entry.get("summary") or "")
    body = _body(entry)
    if not (link or guid) or not (title or description):
        return None
    published, estimated = _published(entry, fetched_at)
    text = body if len(body) > len(description) else description
    url = canonical_url(link) if link else ""
    return Article(
        id=article_id(url or f"{feed.name}:{guid}"),
        feed=feed.name,
        source=feed.name,
        section=feed.section,
        url=url,
        title=title,
        text=text,
        published=published,
        guid=guid,
        author=entry.get("author") or "",
        description=description,
        language=feed.language,
        published_estimated=estimated,
        raw_text=text,
        content_hash=content_hash(f"{title}\n{text}"),
        weight=feed.weight,
    )


def _body(entry: dict) -> str:
    """The longest full-content block an entry carries (content:encoded, atom content)."""
    blocks = [html_to_text(c.get("value") or "") for c in entry.get("content") or []]
    return max(blocks, key=len, default="")


def _published(entry: dict, fetched_at: datetime) -> tuple[datetime, bool]:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC), False
    return fetched_at.astimezone(UTC), True
