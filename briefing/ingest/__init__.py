"""The ingest stage: fetch every enabled feed concurrently, parse, clean, dedupe, store."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime

import httpx

from briefing.config import Config, Feed
from briefing.errors import FeedError
from briefing.ingest.clean import clean_text
from briefing.ingest.fetch import FetchResult, fetch, make_client
from briefing.ingest.parse import content_hash, parse_feed
from briefing.models import Article
from briefing.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    feed: str
    new_items: int = 0
    not_modified: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class IngestReport:
    outcomes: tuple[FeedOutcome, ...] = field(default_factory=tuple)

    @property
    def feeds_ok(self) -> int:
        return sum(1 for o in self.outcomes if o.error is None)

    @property
    def feeds_failed(self) -> int:
        return sum(1 for o in self.outcomes if o.error is not None)

    @property
    def new_articles(self) -> int:
        return sum(o.new_items for o in self.outcomes)


def ingest(config: Config, store: Store, now: datetime) -> IngestReport:
    """Read every enabled feed once; one feed's failure never stops the others."""
    return asyncio.run(_ingest_all(config, store, now))


async def _ingest_all(config: Config, store: Store, now: datetime) -> IngestReport:
    feeds = [f for f in config.feeds if f.enabled]
    gate = asyncio.Semaphore(config.settings.ingest.concurrency)
    async with make_client(config.settings.ingest) as client:

        async def one(feed: Feed) -> tuple[Feed, FetchResult]:
            async with gate:
                return feed, await _fetch_feed(client, config, store, feed)

        results = await asyncio.gather(*(one(f) for f in feeds))
    seen = _Seen.from_store(store)
    outcomes = [_store_feed(config, store, feed, result, now, seen) for feed, result in results]
    return IngestReport(outcomes=tuple(outcomes))


async def _fetch_feed(
    client: httpx.AsyncClient, config: Config, store: Store, feed: Feed
) -> FetchResult:
    state = store.feed_state(feed.name) or {}
    url = state.get("url") or feed.url
    return await fetch(
        client,
        feed,
        config.settings.ingest,
        url=url,
        etag=state.get("etag"),
        last_modified=state.get("last_modified"),
        base_dir=config.base_dir,
    )


@dataclass
class _Seen:
    """Keys of what is stored already, so that a run keeps only new items."""

    ids: set[str]
    guids: set[str]
    hashes: set[str]

    @classmethod
    def from_store(cls, store: Store) -> _Seen:
        return cls(*store.known_keys())

    def is_new(self, article: Article) -> bool:
        if article.id in self.ids or (article.guid and article.guid in self.guids):
            return False
        return article.content_hash not in self.hashes

    def add(self, article: Article) -> None:
        self.ids.add(article.id)
        if article.guid:
            self.guids.add(article.guid)
        self.hashes.add(article.content_hash)


def _store_feed(
    config: Config, store: Store, feed: Feed, result: FetchResult, now: datetime, seen: _Seen
) -> FeedOutcome:
    state = store.feed_state(feed.name) or {}
    failures = int(state.get("consecutive_failures") or 0)
    if result.not_modified:
        store.save_feed_state(
            feed.name,
            url=result.url,
            last_success=now,
            last_attempt=now,
            new_items_last_run=0,
            consecutive_failures=0,
            last_error=None,
        )
        return FeedOutcome(feed.name, not_modified=True)
    error = result.error
    articles: list[Article] = []
    if error is None:
        try:
            articles = parse_feed(result.content, result.headers, feed, now)
        except FeedError as exc:
            error = str(exc)
    if error is not None:
        log.error("feed %r: %s", feed.name, error)
        store.save_feed_state(
            feed.name,
            url=state.get("url") or feed.url,
            last_attempt=now,
            last_error=error,
            consecutive_failures=failures + 1,
            new_items_last_run=0,
        )
        return FeedOutcome(feed.name, error=error)
    fresh = []
    for article in (_cleaned(a) for a in articles):
        if seen.is_new(article):
            seen.add(article)
            fresh.append(article)
    new = store.add_articles(fresh, fetched_at=now)
    store.save_feed_state(
        feed.name,
        url=result.permanent_url or state.get("url") or feed.url,
        etag=result.headers.get("etag"),
        last_modified=result.headers.get("last-modified"),
        last_success=now,
        last_attempt=now,
        last_error=None,
        consecutive_failures=0,
        new_items_last_run=new,
    )
    log.info("feed %r: %d items, %d new", feed.name, len(articles), new)
    return FeedOutcome(feed.name, new_items=new)


def _cleaned(article: Article) -> Article:
    cleaned = clean_text(article.raw_text, title=article.title)
    text = cleaned.text or article.description
    return replace(article, text=text, content_hash=content_hash(f"{article.title}\n{text}"))
