"""Deduplication by GUID is per feed: a GUID is the publisher's own numbering, and two
publishers may well both have an item "1001"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from briefing.ingest import ingest
from briefing.store import Store
from tests.feed_server import FeedServer, write_config

NOW = datetime(2026, 11, 29, 5, tzinfo=UTC)


def _feed(site: str, items: list[tuple[str, str, str]]) -> bytes:
    """An RSS document of (guid, link path, title) items from `site`."""
    entries = "".join(
        f'<item><guid isPermaLink="false">{guid}</guid><link>https://{site}/{path}</link>'
        f"<title>{title}</title><description>{title} وتفاصيل أخرى عن الخبر</description>"
        "<pubDate>Sat, 28 Nov 2026 20:00:00 GMT</pubDate></item>"
        for guid, path, title in items
    )
    channel = f"<channel><title>{site}</title>{entries}</channel>"
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0">{channel}</rss>'.encode()


def _stored(store: Store) -> dict[str, list[str]]:
    """Titles stored, per feed."""
    stored: dict[str, list[str]] = {}
    for article in store.articles_since(datetime(2000, 1, 1, tzinfo=UTC)):
        stored.setdefault(article.feed, []).append(article.title)
    return {feed: sorted(titles) for feed, titles in stored.items()}


def test_the_same_guid_from_two_feeds_is_two_items_but_once_per_feed(tmp_path: Path) -> None:
    with FeedServer() as server:
        one = server.document(
            "/one.xml",
            _feed("one.example", [("1001", "a", "افتتاح معرض الكتاب في الرياض")]),
        )
        other = server.document(
            "/other.xml",
            _feed("other.example", [("1001", "x", "ارتفاع أسعار الذهب في الأسواق")]),
        )
        feeds = [
            {"name": "one", "url": one, "section": "news"},
            {"name": "other", "url": other, "section": "news"},
        ]
        config = write_config(tmp_path, feeds, parse_workers=0)
        store = Store(config.database_url)
        try:
            first = ingest(config, store, NOW)
            assert first.new_articles == 2
            # The first publisher moves item 1001 to a new address (a new canonical URL):
            # still the same item of that feed, so it is not stored again.
            server.document(
                "/one.xml",
                _feed("one.example", [("1001", "a-moved", "افتتاح معرض الكتاب في الرياض")]),
            )
            second = ingest(config, store, NOW)
            assert second.new_articles == 0
            assert {o.feed: o.duplicates for o in second.outcomes}["one"] == 1
            assert _stored(store) == {
                "one": ["افتتاح معرض الكتاب في الرياض"],
                "other": ["ارتفاع أسعار الذهب في الأسواق"],
            }
        finally:
            store.close()


def test_feeds_of_one_publisher_name_one_source(tmp_path: Path) -> None:
    with FeedServer() as server:
        world = server.document(
            "/world.xml", _feed("one.example", [("1", "w", "قمة المناخ تبدأ أعمالها في جنيف")])
        )
        economy = server.document(
            "/economy.xml", _feed("one.example", [("2", "e", "ارتفاع أسعار النفط في الأسواق")])
        )
        plain = server.document(
            "/plain.xml", _feed("two.example", [("3", "p", "افتتاح معرض الكتاب في الرياض")])
        )
        feeds = [
            {"name": "one-world", "source": "صحيفة واحدة", "url": world, "section": "news"},
            {"name": "one-economy", "source": "صحيفة واحدة", "url": economy, "section": "news"},
            {"name": "two", "url": plain, "section": "news"},
        ]
        config = write_config(tmp_path, feeds, parse_workers=0)
        store = Store(config.database_url)
        try:
            ingest(config, store, NOW)
            stored = store.articles_since(datetime(2000, 1, 1, tzinfo=UTC))
        finally:
            store.close()
    assert {(a.feed, a.source) for a in stored} == {
        ("one-world", "صحيفة واحدة"),
        ("one-economy", "صحيفة واحدة"),
        ("two", "two"),
    }
