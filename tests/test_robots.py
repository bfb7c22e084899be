"""robots.txt for article pages: the rules as RFC 9309 reads them, and what an ingest run
against a real local HTTP server fetches (and does not) because of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from briefing.ingest import ingest
from briefing.ingest.parse import canonical_url
from briefing.ingest.robots import parse_robots
from briefing.store import Store
from tests.ant_feeds import rss
from tests.feed_server import FeedServer, write_config

AGENT = "briefing/0.1 (+https://github.com/briefing-news/briefing)"
NOW = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("robots", "path", "allowed"),
    [
        ("User-agent: *\nDisallow: /private/", "/private/a.html", False),
        ("User-agent: *\nDisallow: /private/", "/news/a.html", True),
        # The longest match wins, whatever the order; Allow wins a tie.
        ("User-agent: *\nAllow: /p/open\nDisallow: /p/", "/p/open/a", True),
        ("User-agent: *\nDisallow: /p/\nAllow: /p/open", "/p/open/a", True),
        ("User-agent: *\nDisallow: /p/open\nAllow: /p/", "/p/open/a", False),
        ("User-agent: *\nDisallow: /p\nAllow: /p", "/p/a", True),
        # "*" is any run of characters, a final "$" the end of the path.
        ("User-agent: *\nDisallow: /*.pdf$", "/files/report.pdf", False),
        ("User-agent: *\nDisallow: /*.pdf$", "/files/report.pdf?x=1", True),
        ("User-agent: *\nDisallow: /*?amp=", "/news/a.html?amp=1", False),
        # Our own group wins over "*" (and names us case-insensitively, by product token).
        ("User-agent: *\nDisallow: /\n\nUser-agent: Briefing\nAllow: /", "/news/a", True),
        ("User-agent: *\nAllow: /\n\nUser-agent: briefing\nDisallow: /news/", "/news/a", False),
        # Another crawler's group, or a token that only starts like ours, is not ours.
        ("User-agent: OtherBot\nDisallow: /", "/news/a", True),
        ("User-agent: briefingbot\nDisallow: /", "/news/a", True),
        # Several user agents share a group; comments and blank Disallow are nothing.
        ("User-agent: a\nUser-agent: briefing # us\nDisallow: /x", "/x/1", False),
        ("User-agent: *\nDisallow:", "/anything", True),
        # Paths compare decoded: an Arabic slug written either way.
        (
            "User-agent: *\nDisallow: /%D8%AE%D8%A7%D8%B5/",
            "/%D8%AE%D8%A7%D8%B5/a.html",
            False,
        ),
        ("User-agent: *\nDisallow: /خاص/", "/%D8%AE%D8%A7%D8%B5/a.html", False),
        # The robots.txt itself is always allowed.
        ("User-agent: *\nDisallow: /", "/robots.txt", True),
    ],
)
def test_rules_read_as_rfc_9309_says(robots: str, path: str, allowed: bool) -> None:
    assert parse_robots(robots, AGENT).allows(f"https://news.example.org{path}") is allowed


# Items written for this test (not real news): three teasers whose pages sit in three places.
ITEMS = [
    {
        "docno": name,
        "title": f"خبر تجريبي {number} عن افتتاح مكتبة عامة في المدينة",
        "pub_time": format_datetime(NOW - timedelta(hours=number)),
        "abstract": f"نص تجريبي قصير رقم {number} كتب لهذا الاختبار وحده.",
        "text": "",
    }
    for number, name in enumerate(("open", "closed", "reopened"), start=1)
]
PATHS = {"open": "/news/open.html", "closed": "/private/closed.html"}
PATHS["reopened"] = "/private/open-reopened.html"
ROBOTS = b"User-agent: *\nDisallow: /private/\nAllow: /private/open-\n"


def _site(server: FeedServer, tmp_path: Path, items: list[dict], **ingest_settings: object):
    """The pages of PATHS and a feed of `items` linking to them, read with full_text
    "always"; its config."""
    _serve_pages(server)
    feeds = [_teaser_feed(server, "site", items)]
    # The pages are on this machine (127.0.0.1): private addresses, refused by default.
    return write_config(tmp_path, feeds, allow_private_pages=True, **ingest_settings)


def _serve_pages(server: FeedServer) -> None:
    for path in PATHS.values():
        server.document(path, b"<html><body><p>page</p></body></html>", content_type="text/html")


def _teaser_feed(server: FeedServer, name: str, items: list[dict], **options: object) -> dict:
    """feeds.yaml's entry for a feed of `items` served at /NAME.xml."""
    document = rss(
        items, name, link_of=lambda item: server.url(PATHS[item["docno"]]), full_text=False
    )
    url = server.document(f"/{name}.xml", document)
    return {"name": name, "url": url, "section": "news", "full_text": "always", **options}


def _page_hits(server: FeedServer) -> dict[str, int]:
    return {name: len(server.hits(path)) for name, path in PATHS.items()}


def test_a_page_robots_txt_disallows_is_never_fetched_and_keeps_the_feed_text(
    tmp_path: Path,
) -> None:
    with FeedServer() as server:
        server.document("/robots.txt", ROBOTS, content_type="text/plain")
        config = _site(server, tmp_path, ITEMS)
        store = Store(config.database_url)
        ingest(config, store, NOW)
        assert _page_hits(server) == {"open": 1, "closed": 0, "reopened": 1}
        stored = {a.url: a for a in store.articles_since(NOW - timedelta(days=30))}
        closed = stored[canonical_url(server.url(PATHS["closed"]))]
        assert closed.text == ITEMS[1]["abstract"]
        assert store.cached_page(canonical_url(server.url(PATHS["closed"]))) is None
        assert len(server.hits("/robots.txt")) == 1
        store.close()


def test_robots_txt_is_read_once_a_day_per_site(tmp_path: Path) -> None:
    with FeedServer() as server:
        server.document("/robots.txt", ROBOTS, content_type="text/plain")
        config = _site(server, tmp_path, ITEMS[:1])
        store = Store(config.database_url)
        ingest(config, store, NOW)
        for hours, docno in ((1, "closed"), (25, "reopened")):
            item = next(i for i in ITEMS if i["docno"] == docno)
            server.document(
                "/site.xml",
                rss(
                    [item],
                    f"after {hours} h",
                    link_of=lambda i: server.url(PATHS[i["docno"]]),
                    full_text=False,
                ),
            )
            ingest(config, store, NOW + timedelta(hours=hours))
        assert len(server.hits("/robots.txt")) == 2  # the first run's, then after a day
        assert _page_hits(server) == {"open": 1, "closed": 0, "reopened": 1}
        store.close()


@pytest.mark.parametrize(
    ("status", "fetched"),
    [
        (404, {"open": 1, "closed": 1, "reopened": 1}),
        (503, {"open": 0, "closed": 0, "reopened": 0}),
        (429, {"open": 0, "closed": 0, "reopened": 0}),  # "come back later" is no permission
    ],
)
def test_a_missing_robots_txt_allows_all_and_an_unreadable_one_none(
    tmp_path: Path, status: int, fetched: dict[str, int]
) -> None:
    with FeedServer() as server:
        server.status("/robots.txt", status)
        config = _site(server, tmp_path, ITEMS)
        store = Store(config.database_url)
        report = ingest(config, store, NOW)
        assert report.new_articles == 3  # the items are kept either way
        assert _page_hits(server) == fetched
        store.close()


def test_the_check_can_be_turned_off_for_a_site_that_gave_permission(tmp_path: Path) -> None:
    with FeedServer() as server:
        server.document("/robots.txt", b"User-agent: *\nDisallow: /\n", content_type="text/plain")
        config = _site(server, tmp_path, ITEMS, obey_robots_txt=False)
        store = Store(config.database_url)
        ingest(config, store, NOW)
        assert _page_hits(server) == {"open": 1, "closed": 1, "reopened": 1}
        assert server.hits("/robots.txt") == []
        store.close()


def test_a_feed_whose_publisher_gave_permission_is_fetched_and_the_others_still_ask(
    tmp_path: Path,
) -> None:
    with FeedServer() as site:
        site.document("/robots.txt", b"User-agent: *\nDisallow: /\n", content_type="text/plain")
        _serve_pages(site)
        feeds = [
            _teaser_feed(site, "allowed", ITEMS[:1], obey_robots_txt=False),
            _teaser_feed(site, "asked", ITEMS[1:2]),
        ]
        config = write_config(tmp_path, feeds, allow_private_pages=True)
        store = Store(config.database_url)
        ingest(config, store, NOW)
        assert _page_hits(site) == {"open": 1, "closed": 0, "reopened": 0}
        store.close()
