"""The CPU work of an ingest run, off the event loop: parsing feeds, finishing items.

Parsing (feedparser) and finishing (cleaning, normalizing, MinHash) are most of a cold run's
CPU and hold the GIL. In threads of the run's process they also starve the event loop (sockets,
httpx's pool bookkeeping, SQLite); in a process pool they run on the other cores beside it.
`ingest.parse_workers: 0` keeps them in threads of this process.

Work crosses to a worker as plain picklable values (bytes, Feed, Article) and comes back the
same way; an exception raised in a worker is raised again here, so a broken feed is still that
feed's error.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, TypeVar

from briefing.arabic import normalize
from briefing.ingest.clean import Rules, clean_text, rules_for
from briefing.ingest.dedup import signatures
from briefing.ingest.fulltext import doubt
from briefing.ingest.parse import normalized_hash
from briefing.models import Article

log = logging.getLogger(__name__)

T = TypeVar("T")

# A feed's cleaning rules, named rather than sent: a worker builds them once (rules_for caches).
RulesKey = tuple[str, tuple[str, ...], str | None]


@dataclass(frozen=True, slots=True)
class Finished:
    """An item ready to store. Workers log nothing (a fork server's have no handlers): the
    run logs `page_doubt`."""

    article: Article
    signature: bytes  # MinHash of title and text, uint32 values
    from_page: bool  # the text came from the article page
    page_doubt: str | None = None  # why the page text was not used, when there was one


def worker_count(setting: int | None) -> int:
    """`ingest.parse_workers`: None means one worker per CPU, 0 means threads, no processes."""
    return (os.cpu_count() or 1) if setting is None else setting


class Workers:
    """Runs a run's CPU work in a process pool (`count` processes) or, with 0, in threads."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._pool: ProcessPoolExecutor | None = None
        if count:
            self._pool = _start_pool(count)

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a worker; its exception, if any, is raised here."""
        pool = self._pool
        if pool is None:
            return await asyncio.to_thread(function, *args)
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory, a crash in C code): the work in flight
            # fails with this error, and a fresh pool takes the rest of the run.
            self._replace(pool)
            raise

    def _replace(self, broken: Executor) -> None:
        if self._pool is broken:
            log.warning("a parse worker died; starting a fresh pool for the rest of the run")
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = _start_pool(self.count)


def _start_pool(count: int) -> ProcessPoolExecutor:
    context = multiprocessing.get_context(_start_method())
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload([__name__])  # imported once, in the server
    pool = ProcessPoolExecutor(count, mp_context=context)
    pool.submit(rules_for)  # starts the workers now, each loading the packaged rules once
    return pool


def _start_method() -> str:
    # fork starts a worker in milliseconds, but is safe only while this process has one
    # thread: a lock another thread holds at fork time stays locked in the child for ever.
    # Otherwise (serve mode's scheduler, tests beside server threads) a fork server, whose
    # first start costs about a second of imports, then forks workers from a clean process.
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def finish_items(items: list[tuple[Article, str | None]], rules_key: RulesKey) -> list[Finished]:
    """Finish a feed's new items, each with its page text (None when no page was used):
    pick the body (page or feed), clean it, hash it."""
    if not items:
        return []
    rules = rules_for(*rules_key)
    drafts = [_finish_text(article, page_text, rules) for article, page_text in items]
    sigs = signatures([key for _, key, _, _ in drafts])
    return [
        Finished(article, sig.tobytes(), from_page, problem)
        for (article, _, from_page, problem), sig in zip(drafts, sigs, strict=True)
    ]


def _finish_text(
    article: Article, page_text: str | None, rules: Rules
) -> tuple[Article, str, bool, str | None]:
    """The finished article, its normalized text, whether the page text was used, and why not."""
    body, from_page = article.text, False
    problem = doubt(page_text, article.text) if page_text else None
    if page_text and problem is None:
        body, from_page = page_text, True
    cleaned = clean_text(body, title=article.title, rules=rules)
    text = cleaned.text or article.description
    key = normalize(f"{article.title}\n{text}")
    finished = replace(article, text=text, raw_text=body, content_hash=normalized_hash(key))
    return finished, key, from_page, problem
