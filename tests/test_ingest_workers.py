"""The process pool that parses feeds and finishes items: same result as threads, and a
feed whose parse fails in a worker is that feed's error only."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import briefing.ingest as ingest_module
from briefing.arabic import normalize
from briefing.config import Feed
from briefing.errors import ConfigError
from briefing.ingest import ingest, work
from briefing.ingest.parse import ParsedFeed, normalized_hash, parse_document
from briefing.ingest.work import Workers
from briefing.store import Store, fingerprints
from tests.ant_feeds import article_page, atom, by_source_and_day, load_items, rss
from tests.feed_server import FeedServer, write_config
from tests.shared_data import requires_shared_data

NOW = datetime(2018, 4, 8, 6, 0, tzinfo=UTC)


def _feeds(server: FeedServer) -> list[dict]:
    """Full-text feeds (RSS and Atom), a teaser feed whose pages are fetched, a feed cut off
    mid-document (read with a warning), and two that cannot be read."""
    groups = by_source_and_day(load_items())
    feeds = []
    for source, day in (("CNN", "20180401"), ("Alarabia", "20180402"), ("BBC", "20180401")):
        name = f"{source}-{day}"
        document = (
            atom(groups[source, day], name) if source == "BBC" else rss(groups[source, day], name)
        )
        feeds.append({"name": name, "url": server.document(f"/{name}.xml", document)})
    teasers = groups["CNN", "20180404"][:6]
    for item in teasers:
        server.document(f"/a/{item['docno']}.html", article_page(item), content_type="text/html")
    document = rss(
        teasers,
        "teasers",
        link_of=lambda i: server.url(f"/a/{i['docno']}.html"),
        full_text=False,
    )
    feeds.append({"name": "teasers", "url": server.document("/teasers.xml", document)})
    cut = rss(groups["Alarabia", "20180403"], "cut")
    feeds.append({"name": "cut", "url": server.document("/cut.xml", cut[: len(cut) * 2 // 3])})
    feeds.append({"name": "malformed", "url": server.document("/bad.xml", b"<rss><<<</rss")})
    feeds.append({"name": "empty", "url": server.document("/empty.xml", b"")})
    for feed in feeds:
        feed.setdefault("section", "news")
        feed["full_text"] = "auto" if feed["name"] == "teasers" else "never"
    return feeds


def _run(folder: Path, feeds: list[dict], workers: int) -> tuple:
    # The teasers' pages are on this machine (127.0.0.1): private addresses, refused by default.
    config = write_config(folder, feeds, parse_workers=workers, allow_private_pages=True)
    store = Store(config.database_url)
    try:
        report = ingest(config, store, NOW)
        articles = sorted(store.articles_since(NOW - timedelta(days=3650)), key=lambda a: a.id)
        states = store.all_feed_states()
        with store.engine.connect() as conn:
            prints = sorted(conn.execute(select(fingerprints)).all())
    finally:
        store.close()
    return sorted(report.outcomes, key=lambda o: o.feed), articles, states, prints


@requires_shared_data
@pytest.mark.shared_data
def test_a_process_pool_stores_exactly_what_threads_store(tmp_path: Path) -> None:
    with FeedServer() as server:
        feeds = _feeds(server)
        in_threads = _run(tmp_path / "threads", feeds, workers=0)
        in_processes = _run(tmp_path / "processes", feeds, workers=2)
    outcomes, articles, _, prints = in_processes
    assert in_processes == in_threads
    # The comparison covered every path: stored items, page text, a warning, two errors.
    by_feed = {o.feed: o for o in outcomes}
    assert len(articles) == len(prints) > 50
    assert by_feed["teasers"].full_texts == 6
    assert by_feed["cut"].warning and by_feed["cut"].new_items > 0
    assert "not a readable RSS/Atom document" in (by_feed["malformed"].error or "")
    assert "empty response" in (by_feed["empty"].error or "")


def _explode_on_bad(
    content: bytes, headers: dict[str, str], feed: Feed, fetched_at: datetime
) -> ParsedFeed:
    if feed.name == "bad":
        raise RuntimeError(f"parser bug in process {os.getpid()}")
    return parse_document(content, headers, feed, fetched_at)


_ITEM = "<item><title>{0}</title><link>http://example.org/{1}</link><description>{0}</description></item>"


def _small_feed(name: str, words: list[str]) -> bytes:
    items = "".join(_ITEM.format(w, f"{name}/{n}") for n, w in enumerate(words))
    channel = f"<channel><title>t</title>{items}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


def test_a_feed_whose_parse_raises_in_a_worker_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Forked workers inherit the fault; a fork server's would import the real parser.
    monkeypatch.setattr(work, "_start_method", lambda: "fork")
    monkeypatch.setattr(ingest_module, "parse_document", _explode_on_bad)
    with FeedServer() as server:
        feeds = [
            {
                "name": name,
                "url": server.document(f"/{name}.xml", _small_feed(name, words)),
                "section": "news",
            }
            for name, words in (
                ("good-1", ["مطر غزير في الرياض", "افتتاح معرض الكتاب"]),
                ("bad", ["خبر لن يقرأ"]),
                ("good-2", ["ارتفاع اسعار النفط"]),
            )
        ]
        config = write_config(tmp_path, feeds, parse_workers=2)
        store = Store(config.database_url)
        report = ingest(config, store, NOW)
    outcomes = {o.feed: o for o in report.outcomes}
    error = outcomes["bad"].error or ""
    assert error.startswith("unexpected error: RuntimeError: parser bug in process")
    assert not error.endswith(f" {os.getpid()}")  # raised in a worker, not in this process
    state = store.feed_state("bad")
    assert state is not None and state["last_error"] == error
    assert (outcomes["good-1"].new_items, outcomes["good-2"].new_items) == (2, 1)
    assert outcomes["good-1"].error is None and outcomes["good-2"].error is None
    store.close()


def test_workers_run_in_other_processes_and_zero_means_this_one() -> None:
    async def pid_of(workers: Workers) -> int:
        return await workers.run(os.getpid)

    with Workers(1) as pool, Workers(0) as threads:
        assert asyncio.run(pid_of(pool)) != os.getpid()
        assert asyncio.run(pid_of(threads)) == os.getpid()


def test_a_worker_that_dies_fails_its_work_and_a_fresh_pool_takes_the_rest() -> None:
    async def die_then_continue(workers: Workers) -> int:
        with pytest.raises(work.BrokenProcessPool):
            await workers.run(os._exit, 3)
        return await workers.run(os.getpid)

    with Workers(1) as workers:
        assert asyncio.run(die_then_continue(workers)) != os.getpid()


def test_parse_workers_defaults_to_the_cpus_and_rejects_negatives(tmp_path: Path) -> None:
    assert work.worker_count(None) == os.cpu_count()
    assert work.worker_count(0) == 0
    with pytest.raises(ConfigError, match="parse_workers"):
        write_config(tmp_path, [], parse_workers=-1)


def test_parsing_leaves_the_content_hash_to_finishing_which_hashes_the_cleaned_text() -> None:
    body = "&lt;p&gt;افتتح وزير الثقافة معرض الكتاب في الرياض صباح اليوم.&lt;/p&gt;"
    related = "&lt;p&gt;اقرأ أيضا: معرض آخر في جدة&lt;/p&gt;"
    item = (
        "<item><title>افتتاح معرض الكتاب</title><link>http://example.org/book-fair</link>"
        f"<description>{body}{related}</description></item>"
    )
    document = f'<?xml version="1.0"?><rss version="2.0"><channel>{item}</channel></rss>'
    feed = Feed(name="culture", url="http://example.org/feed", section="news")
    [parsed] = parse_document(document.encode(), {}, feed, NOW).articles
    assert parsed.content_hash == ""  # hashing here would be thrown away by finishing
    [finished] = work.finish_items([(parsed, None)], (feed.name, feed.boilerplate, None))
    article = finished.article
    assert article.text == "افتتح وزير الثقافة معرض الكتاب في الرياض صباح اليوم."
    assert "اقرأ أيضا" in article.raw_text  # the related link was cleaned away...
    # ...and the hash is of what is stored as the text, normalized with the title.
    expected = normalized_hash(normalize(f"{article.title}\n{article.text}"))
    assert article.content_hash == expected
