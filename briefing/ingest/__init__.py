"""The ingest stage: fetch every enabled feed concurrently, parse, filter, get full text, clean,
drop duplicates, store. One feed's failure never stops the others.

Per feed: skip it while it is disabled (410) or waiting out a Retry-After; conditional GET
(a 304 costs no parsing); parse; drop items already stored (URL, GUID) and items the feed's
filters reject; fetch the article page of teaser items; clean furniture lines; drop exact
(same normalized text) and near duplicates (same source); store; record the feed's health.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import numpy as np

from briefing.config import Config, Feed
from briefing.errors import FeedError
from briefing.ingest.dedup import NearDuplicates
from briefing.ingest.fetch import Fetcher, FetchResult, parse_retry_after
from briefing.ingest.filters import wanted
from briefing.ingest.fulltext import extract_article, is_teaser
from briefing.ingest.parse import parse_document
from briefing.ingest.robots import Robots
from briefing.ingest.work import Finished, Workers, finish_items, worker_count
from briefing.models import Article
from briefing.store import Store

log = logging.getLogger(__name__)

__all__ = ["FeedOutcome", "IngestReport", "ingest"]


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    feed: str
    new_items: int = 0
    not_modified: bool = False
    error: str | None = None
    skipped: str | None = None  # why the feed was not fetched this run (disabled, Retry-After)
    items: int = 0  # entries the feed document held
    duplicates: int = 0  # items already stored, or the same text / nearly so from one source
    filtered: int = 0  # items the feed's include/exclude filters rejected
    full_texts: int = 0  # items whose text came from their article page
    warning: str | None = None  # a problem that did not stop the feed


@dataclass(frozen=True, slots=True)
class IngestReport:
    outcomes: tuple[FeedOutcome, ...] = field(default_factory=tuple)

    @property
    def feeds_ok(self) -> int:
        return sum(1 for o in self.outcomes if o.error is None and o.skipped is None)

    @property
    def feeds_failed(self) -> int:
        return sum(1 for o in self.outcomes if o.error is not None)

    @property
    def feeds_skipped(self) -> int:
        return sum(1 for o in self.outcomes if o.skipped is not None)

    @property
    def new_articles(self) -> int:
        return sum(o.new_items for o in self.outcomes)

    def feed_lines(self) -> list[str]:
        """What the report printed after a run says of single feeds: errors, skips, then
        warnings (a problem that did not stop the feed, for an editor to look at)."""
        return (
            [f"  feed {o.feed}: {o.error}" for o in self.outcomes if o.error]
            + [f"  feed {o.feed}: skipped, {o.skipped}" for o in self.outcomes if o.skipped]
            + [f"  feed {o.feed}: warning: {o.warning}" for o in self.outcomes if o.warning]
        )


def ingest(config: Config, store: Store, now: datetime) -> IngestReport:
    """Read every enabled feed once; one feed's failure never stops the others."""
    # The workers start before the event loop does (and its threads).
    with Workers(worker_count(config.settings.ingest.parse_workers)) as workers:
        return asyncio.run(_ingest_all(config, store, now, workers))


async def _ingest_all(
    config: Config, store: Store, now: datetime, workers: Workers
) -> IngestReport:
    settings = config.settings.ingest
    fetcher = Fetcher(settings, config.base_dir, allow_files=settings.allow_file_urls)
    async with fetcher:
        run = _Run(config, store, now, fetcher, workers)
        feeds = [f for f in config.feeds if f.enabled]
        outcomes = await asyncio.gather(*(run.read_feed(f) for f in feeds))
    return IngestReport(outcomes=tuple(outcomes))


@dataclass
class _Seen:
    """Keys of what is stored already, so that a run keeps only new items."""

    ids: set[str]
    guids: set[tuple[str, str]]  # (feed, GUID): a GUID is unique only within its feed
    hashes: set[str]

    @classmethod
    def from_store(cls, store: Store) -> _Seen:
        return cls(*store.known_keys())

    def known(self, article: Article) -> bool:
        """Stored already under the same canonical URL or GUID."""
        return article.id in self.ids or (article.feed, article.guid) in self.guids

    def is_new(self, article: Article) -> bool:
        return not self.known(article) and article.content_hash not in self.hashes

    def add(self, article: Article) -> None:
        self.ids.add(article.id)
        if article.guid:
            self.guids.add((article.feed, article.guid))
        self.hashes.add(article.content_hash)


class _Run:
    """One ingest run: the shared fetcher, what is stored already, pages in flight."""

    def __init__(
        self, config: Config, store: Store, now: datetime, fetcher: Fetcher, workers: Workers
    ) -> None:
        self.config = config
        self.settings = config.settings.ingest
        self.store = store
        self.now = now
        self.fetcher = fetcher
        self.workers = workers
        self.seen = _Seen.from_store(store)
        self.near = NearDuplicates(self.settings.near_duplicate_threshold)
        since = now - timedelta(days=self.settings.near_duplicate_days)
        for source, article_id, sig in store.recent_fingerprints(since):
            self.near.add(source, article_id, np.frombuffer(sig, dtype=np.uint32))
        self.pages: dict[str, asyncio.Task[str | None]] = {}
        self.robots = Robots(fetcher, store, now, self.settings.user_agent)
        extra = self.settings.boilerplate_file
        self.boilerplate_file = str(config.base_dir / extra) if extra else None

    async def read_feed(self, feed: Feed) -> FeedOutcome:
        try:
            return await self._read_feed(feed)
        except Exception as exc:  # a bug or a surprise in one feed must not stop the others
            log.exception("feed %r: unexpected error", feed.name)
            error = f"unexpected error: {exc.__class__.__name__}: {exc}"
            self._record_failure(feed, self._state(feed), error)
            return FeedOutcome(feed.name, error=error)

    def _state(self, feed: Feed) -> dict:
        state = self.store.feed_state(feed.name) or {}
        if state.get("config_url") not in (None, feed.url):
            # The editor changed the URL: forget redirects, validators, a 410 and a Retry-After.
            log.info("feed %r: URL changed in feeds.yaml; starting afresh", feed.name)
            state = {"consecutive_failures": state.get("consecutive_failures", 0)}
            self.store.save_feed_state(
                feed.name,
                url=feed.url,
                config_url=feed.url,
                etag=None,
                last_modified=None,
                disabled_reason=None,
                retry_after=None,
            )
        return state

    async def _read_feed(self, feed: Feed) -> FeedOutcome:
        state = self._state(feed)
        skip = self._skip_reason(state)
        if skip:
            log.info("feed %r: skipped, %s", feed.name, skip)
            return FeedOutcome(feed.name, skipped=skip)
        url = state.get("url") or feed.url
        result = await self.fetcher.get(
            url, etag=state.get("etag"), last_modified=state.get("last_modified")
        )
        if result.not_modified:
            self._record_success(feed, url, result, new=0, warning=state.get("last_warning"))
            return FeedOutcome(feed.name, not_modified=True)
        if result.error:
            return self._failed(feed, state, result)
        try:
            # Parsing is CPU work: in a worker the event loop keeps serving the other feeds'
            # sockets (and their timeouts) meanwhile.
            parsed = await self.workers.run(
                parse_document, result.content, result.headers, feed, self.now
            )
        except FeedError as exc:
            return self._failed(feed, state, replace(result, error=str(exc)))
        # A feed's first read cannot tell this morning's undated items from last year's:
        # they are kept (a later read knows them) but left out of editions. Undated items
        # that appear later are dated by when they were first seen.
        backlog = set(parsed.undated) if not state.get("last_success") else set()
        warning = "; ".join(filter(None, [parsed.warning, _backlog_note(len(backlog))])) or None
        if warning:
            log.warning("feed %r: %s", feed.name, warning)
        articles = [replace(a, backlog=True) if a.id in backlog else a for a in parsed.articles]
        outcome = await self._keep_new(feed, articles, is_web=not url.startswith("file:"))
        outcome = replace(outcome, items=parsed.entries, warning=warning)
        self._record_success(
            feed, result.permanent_url or url, result, new=outcome.new_items, warning=warning
        )
        if result.permanent_url:
            log.info("feed %r moved permanently to %s", feed.name, result.permanent_url)
        log.info(
            "feed %r: %d items, %d new, %d duplicates, %d filtered, %d full texts",
            feed.name,
            parsed.entries,
            outcome.new_items,
            outcome.duplicates,
            outcome.filtered,
            outcome.full_texts,
        )
        return outcome

    def _skip_reason(self, state: dict) -> str | None:
        if state.get("disabled_reason"):
            return f"disabled: {state['disabled_reason']}"
        retry_after = state.get("retry_after")
        if retry_after and retry_after > self.now:
            return f"asked to wait until {retry_after:%Y-%m-%d %H:%M} UTC (Retry-After)"
        return None

    # ---- items ---------------------------------------------------------------------------

    async def _keep_new(self, feed: Feed, articles: list[Article], *, is_web: bool) -> FeedOutcome:
        duplicates = filtered = 0
        candidates = []
        for article in articles:
            if self.seen.known(article):
                duplicates += 1
            elif not wanted(article, feed):
                filtered += 1
            else:
                candidates.append(article)
        # Pages are fetched only for feeds read over the web: a feed on local disk (the demo,
        # tests) never makes the run reach out to the network.
        teasers = [
            is_web and is_teaser(a, feed.full_text, self.settings.teaser_words) for a in candidates
        ]
        obey = feed.obey_robots_txt
        obey = self.settings.obey_robots_txt if obey is None else obey
        pages = await asyncio.gather(
            *(
                self._page_text(a.url, obey) if t else _none()
                for a, t in zip(candidates, teasers, strict=True)
            )
        )
        finished_all = await self._finish(feed, list(zip(candidates, pages, strict=True)))
        fresh: list[tuple[Article, str, bytes]] = []  # article, source, signature
        full_texts = 0
        for item in finished_all:
            if item.page_doubt:
                log.info("page %s: keeping the feed text (%s)", item.article.url, item.page_doubt)
            finished, sig = item.article, np.frombuffer(item.signature, dtype=np.uint32)
            source = _source_key(finished)
            twin = self.near.twin(source, sig)
            if not self.seen.is_new(finished) or twin is not None:
                duplicates += 1
                if twin is not None:
                    log.debug("feed %r: %s is a near duplicate of %s", feed.name, finished.id, twin)
                continue
            self.seen.add(finished)
            self.near.add(source, finished.id, sig)
            fresh.append((finished, source, item.signature))
            full_texts += item.from_page
        new = self.store.add_fingerprinted_articles(fresh, fetched_at=self.now)
        return FeedOutcome(
            feed.name,
            new_items=new,
            duplicates=duplicates,
            filtered=filtered,
            full_texts=full_texts,
        )

    async def _finish(self, feed: Feed, items: list[tuple[Article, str | None]]) -> list[Finished]:
        if not items:  # every item known or filtered: no trip to a worker
            return []
        rules_key = (feed.name, feed.boilerplate, self.boilerplate_file)
        return await self.workers.run(finish_items, items, rules_key)

    async def _page_text(self, url: str, obey_robots: bool) -> str | None:
        """The extracted text of an article page: from the cache, or fetched once per run
        (where robots.txt allows, when `obey_robots`)."""
        cached = self.store.cached_page(url)
        if cached is not None:
            return cached["text"]
        if url not in self.pages:
            self.pages[url] = asyncio.create_task(self._fetch_page(url, obey_robots))
        return await self.pages[url]

    async def _fetch_page(self, url: str, obey_robots: bool) -> str | None:
        refusal = await self.robots.refusal(url) if obey_robots else None
        if refusal:
            # Not cached: the site may allow it later, or the operator turn the check off.
            log.info("page %s: not fetched, %s; the feed's text stays", url, refusal)
            return None
        result = await self.fetcher.get(url, page=True)
        if result.refused:
            # A page at a private address (allow_private_pages is off): the feed's text stays.
            # Not cached: turning the setting on takes effect at the next run.
            log.warning("page %s: %s", url, result.error)
            return None
        text, error = None, result.error
        if error is None:
            extraction = await asyncio.to_thread(extract_article, result.content, result.url)
            text = extraction.text if extraction.is_article else None
            error = None if extraction.is_article else extraction.reason
        if error:
            log.info("page %s: no full text (%s)", url, error)
        self.store.cache_page(
            url, fetched_at=self.now, status=result.status, text=text, error=error
        )
        return text

    # ---- feed health ---------------------------------------------------------------------

    def _record_success(
        self, feed: Feed, url: str, result: FetchResult, *, new: int, warning: str | None
    ) -> None:
        values = {
            "url": url,
            "config_url": feed.url,
            "last_success": self.now,
            "last_attempt": self.now,
            "last_error": None,
            "last_warning": warning,
            "consecutive_failures": 0,
            "new_items_last_run": new,
            "retry_after": None,
        }
        if not result.not_modified:  # a 304 may omit the validators: keep the stored ones
            values["etag"] = result.headers.get("etag")
            values["last_modified"] = result.headers.get("last-modified")
        self.store.save_feed_state(feed.name, **values)

    def _failed(self, feed: Feed, state: dict, result: FetchResult) -> FeedOutcome:
        error = result.error or "unknown error"
        extra: dict = {}
        if result.gone:
            extra["disabled_reason"] = (
                f"{error} on {self.now:%Y-%m-%d}: the publisher removed the feed; "
                "change its URL in feeds.yaml to read it again"
            )
            log.warning("feed %r disabled: %s", feed.name, extra["disabled_reason"])
        wait = parse_retry_after(result.retry_after, self.now)
        if wait is not None:
            wait = min(wait, self.settings.max_retry_after_hours * 3600)
            extra["retry_after"] = self.now + timedelta(seconds=wait)
        self._record_failure(feed, state, error, **extra)
        return FeedOutcome(feed.name, error=error)

    def _record_failure(self, feed: Feed, state: dict, error: str, **extra: object) -> None:
        log.error("feed %r: %s", feed.name, error)
        self.store.save_feed_state(
            feed.name,
            url=state.get("url") or feed.url,
            config_url=feed.url,
            last_attempt=self.now,
            last_error=error,
            consecutive_failures=int(state.get("consecutive_failures") or 0) + 1,
            new_items_last_run=0,
            **extra,
        )


async def _none() -> None:
    return None


def _source_key(article: Article) -> str:
    """Near duplicates are looked for within one publisher: the article's host, else the feed."""
    host = urlsplit(article.url).hostname or ""
    return host.removeprefix("www.") or article.feed


def _backlog_note(undated: int) -> str | None:
    """What the feed's warning says of undated items left out on its first read."""
    if not undated:
        return None
    return (
        f"{undated} item(s) without a date on the feed's first read: kept out of editions, "
        "as their age is unknown; items without a date that appear later are dated when "
        "first seen"
    )
