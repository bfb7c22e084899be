"""`briefing try-feed URL`: what reading a feed would give, before an editor adds it.

One fetch and one parse, as a run would make them, then what an editor needs to decide:
how many items and how recent, whether they carry dates and in which language, whether the
feed gives whole texts or teasers (and so whether pages will be fetched), whether the site's
robots.txt lets them be and what the first page gives, and whether the server answers
conditional GETs. Nothing is stored. A feed that cannot be read gives the run's own error.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from briefing.config import Config, Feed
from briefing.errors import FeedError
from briefing.ingest.fetch import Fetcher
from briefing.ingest.fulltext import extract_article, is_teaser
from briefing.ingest.language import detect_language
from briefing.ingest.parse import parse_document
from briefing.ingest.robots import Robots


@dataclass(frozen=True, slots=True)
class FeedProbe:
    url: str  # the URL finally read (after redirects)
    title: str
    items: int
    newest: datetime | None
    oldest: datetime | None
    undated: int
    language: str  # the language most items are in
    median_words: int  # of the text the feed itself gives per item
    teasers: int  # items `full_text: auto` would fetch the page of
    validators: tuple[str, ...]  # ETag, Last-Modified: what conditional GETs can use
    warning: str | None
    page: str | None  # what the first teaser's page gave; None when there is no teaser

    def lines(self, zone: ZoneInfo) -> list[str]:
        def when(moment: datetime | None) -> str:
            return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "none"

        conditional = (
            " and ".join(self.validators) if self.validators else "no (read whole at each poll)"
        )
        lines = [
            f"{self.url}: {self.items} items" + (f", «{self.title}»" if self.title else ""),
            f"  dates: newest {when(self.newest)}, oldest {when(self.oldest)} ({zone.key}); "
            f"{self.undated} undated",
            f"  language: {self.language}",
            f"  text: median {self.median_words} words per item; "
            + (
                f"{self.teasers} of {self.items} are teasers: full_text auto fetches their pages"
                if self.teasers
                else "whole texts: no page needs fetching"
            ),
            f"  conditional GET: {conditional}",
        ]
        if self.page:
            lines.append(f"  first teaser's page: {self.page}")
        if self.warning:
            lines.append(f"  warning: {self.warning}")
        return lines

    def feeds_yaml(self, section: str) -> list[str]:
        """A feeds.yaml entry for it, to paste and edit."""
        name = self.title or self.url
        return [
            f'  - name: "{_quoted(name)}"',
            f'    url: "{_quoted(self.url)}"',
            f"    section: {section}",
            f"    language: {self.language}",
            f"    full_text: {'auto' if self.teasers else 'never'}",
        ]


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def probe_feed(config: Config, url: str, now: datetime) -> FeedProbe:
    """Fetch and read `url` as a run would; FeedError when it cannot be used."""
    return asyncio.run(_probe(config, url, now))


async def _probe(config: Config, url: str, now: datetime) -> FeedProbe:
    settings = config.settings.ingest
    section = next(iter(config.settings.sections))
    feed = Feed(name="probe", url=url, section=section)
    async with Fetcher(settings, config.base_dir, allow_files=settings.allow_file_urls) as fetcher:
        result = await fetcher.get(url)
        if result.error:
            raise FeedError(f"{url}: {result.error}", hint="open the URL in a browser")
        parsed = parse_document(result.content, result.headers, feed, now)
        articles = parsed.articles
        teasers = [a for a in articles if is_teaser(a, "auto", settings.teaser_words)]
        page = None
        if teasers and url.lower().startswith(("http://", "https://")):  # runs do the same
            robots = Robots(fetcher, None, now, settings.user_agent)
            page = await _first_page(fetcher, robots, teasers[0].url, settings.obey_robots_txt)
    undated = set(parsed.undated)
    dated = [a.published for a in articles if a.id not in undated]
    words = [len(a.text.split()) for a in articles]
    languages = Counter(detect_language(f"{a.title} {a.text}", "ar") for a in articles)
    return FeedProbe(
        url=result.url,
        title=parsed.title,
        items=len(articles),
        newest=max(dated, default=None),
        oldest=min(dated, default=None),
        undated=len(parsed.undated),
        language=languages.most_common(1)[0][0] if languages else "ar",
        median_words=int(statistics.median(words)) if words else 0,
        teasers=len(teasers),
        validators=tuple(
            name
            for name, key in (("ETag", "etag"), ("Last-Modified", "last-modified"))
            if result.headers.get(key)
        ),
        warning=parsed.warning,
        page=page,
    )


async def _first_page(fetcher: Fetcher, robots: Robots, url: str, obey_robots: bool) -> str:
    """What fetching one teaser's page gives: its words, or why there are none."""
    refusal = await robots.refusal(url) if obey_robots else None
    if refusal:
        return f"not fetched, {refusal} ({url})"
    result = await fetcher.get(url, page=True)
    if result.error:
        return f"{result.error} ({url})"
    extraction = await asyncio.to_thread(extract_article, result.content, result.url)
    if not extraction.is_article:
        return f"not an article: {extraction.reason} ({url})"
    return f"{len(extraction.text.split())} words of text ({url})"
