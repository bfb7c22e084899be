"""Ingest against a real local HTTP server serving feeds built from real ANT items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path

import pytest

import briefing.ingest as ingest_module
from briefing.ingest import ingest
from briefing.ingest.parse import article_id, canonical_url
from briefing.models import Article
from briefing.store import Store
from tests.ant_feeds import article_page, atom, by_source_and_day, load_items, rss, shared
from tests.feed_server import FeedServer, write_config
from tests.shared_data import requires_shared_data

pytestmark = [requires_shared_data, pytest.mark.shared_data]

NOW = datetime(2018, 4, 8, 6, 0, tzinfo=UTC)
GOOD_DAYS = ("20180401", "20180402")


def _good_feeds(server: FeedServer) -> tuple[list[dict], dict[str, list[dict]]]:
    """One feed per source and day (RSS for most sources, Atom for BBC), plus encodings."""
    groups = by_source_and_day(load_items())
    feeds, items = [], {}
    for (source, day), group in sorted(groups.items()):
        if day not in GOOD_DAYS:
            continue
        name = f"{source}-{day}"
        document = atom(group, name) if source == "BBC" else rss(group, name)
        feeds.append({"name": name, "url": server.document(f"/{name}.xml", document)})
        items[name] = group
    cnn, arabiya = groups[("CNN", "20180403")], groups[("Alarabia", "20180403")]
    feeds.append(
        {
            "name": "cnn-windows-1256",
            "url": server.document(
                "/cp1256.xml",
                rss(cnn, "CNN 1256", encoding="windows-1256"),
                content_type="application/rss+xml",  # the encoding is declared in the XML only
            ),
        }
    )
    items["cnn-windows-1256"] = cnn
    bom = b"\xef\xbb\xbf" + rss(arabiya, "Arabiya BOM")
    feeds.append({"name": "arabiya-bom", "url": server.document("/bom.xml", bom)})
    items["arabiya-bom"] = arabiya
    moved = rss(groups[("BBC", "20180403")], "moved")
    server.document("/new-home.xml", moved)
    feeds.append({"name": "moved-301", "url": server.redirect("/old.xml", "/new-home.xml", 301)})
    items["moved-301"] = groups[("BBC", "20180403")]
    return feeds, items


def _broken_feeds(server: FeedServer) -> dict[str, tuple[str, str]]:
    """name -> (url, words the recorded error must contain)."""
    home = shared("html_pages/bbc_arabic_homepage_2022/index_page_commit_7a1b403.html")
    later = formatdate((NOW + timedelta(hours=2)).timestamp(), usegmt=True)
    server.redirect("/loop-a", "/loop-b", 302)
    server.redirect("/loop-b", "/loop-a", 302)
    return {
        "malformed": (
            server.document("/bad.xml", b"<?xml version='1.0'?><rss><channel><<<</rss"),
            "not a readable RSS/Atom document",
        ),
        "html-page": (
            server.document("/home.html", home.read_bytes(), content_type="text/html"),
            "HTML page, not an RSS/Atom feed",
        ),
        "empty": (server.document("/empty.xml", b""), "empty response"),
        "missing": (server.status("/404.xml", 404), "HTTP 404"),
        "gone": (server.status("/410.xml", 410), "HTTP 410"),
        "broken-server": (server.status("/500.xml", 500), "HTTP 500"),
        "throttled": (server.status("/429.xml", 429, **{"Retry-After": "120"}), "HTTP 429"),
        "unavailable": (server.status("/503.xml", 503, **{"Retry-After": later}), "HTTP 503"),
        "loop": (server.url("/loop-a"), "too many redirects"),
        "silent": (server.hang("/hang.xml"), "no answer within 1 s"),
        "huge": (server.huge("/huge.xml", 20_000_000), "larger than ingest.max_bytes"),
    }


def _config(tmp_path: Path, server: FeedServer):
    good, items = _good_feeds(server)
    broken = _broken_feeds(server)
    feeds = [{**f, "section": "news", "full_text": "never"} for f in good]
    feeds += [{"name": n, "url": u, "section": "news"} for n, (u, _) in broken.items()]
    config = write_config(tmp_path, feeds, timeout_seconds=1, deadline_seconds=20)
    return config, items, broken


def test_good_and_broken_feeds_in_one_run_then_a_quiet_second_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FeedServer() as server:
        config, items, broken = _config(tmp_path, server)
        store = Store(config.database_url)
        report = ingest(config, store, NOW)
        outcomes = {o.feed: o for o in report.outcomes}

        # Every bad feed failed with a clear error, recorded in the store.
        states = {s["name"]: s for s in store.all_feed_states()}
        for name, (_, words) in broken.items():
            error = outcomes[name].error
            assert error and words in error, name
            assert words in states[name]["last_error"], name
            assert states[name]["consecutive_failures"] == 1
        assert "410" in states["gone"]["disabled_reason"]
        assert states["throttled"]["retry_after"] == NOW + timedelta(seconds=120)
        assert states["unavailable"]["retry_after"] == NOW + timedelta(hours=2)

        # Every good feed's items are stored (an item listed in two sections is stored once).
        assert {n: o.error for n, o in outcomes.items() if n in items and o.error} == {}
        assert report.feeds_failed == len(broken)
        expected = {article_id(canonical_url(i["url"])) for group in items.values() for i in group}
        stored = {a.id for a in store.articles_since(NOW - timedelta(days=3650))}
        assert stored == expected
        assert report.new_articles == len(expected)
        assert states["moved-301"]["url"] == server.url("/new-home.xml")

        # Second run: conditional headers go out, nothing is parsed, nothing new is stored.
        parsed: list[str] = []
        real_parse = ingest_module.parse_document

        def spy(content, headers, feed, fetched_at):  # type: ignore[no-untyped-def]
            parsed.append(feed.name)
            return real_parse(content, headers, feed, fetched_at)

        monkeypatch.setattr(ingest_module, "parse_document", spy)
        before = len(server.requests)
        # Parsing in threads of this process, where the spy sees it (worker processes would not).
        in_threads = config.settings.ingest.model_copy(update={"parse_workers": 0})
        settings = config.settings.model_copy(update={"ingest": in_threads})
        config = config.model_copy(update={"settings": settings})
        again = ingest(config, store, NOW + timedelta(minutes=1))  # within the Retry-After
        second = {o.feed: o for o in again.outcomes}
        assert all(second[name].not_modified for name in items)
        assert again.new_articles == 0 and store.count("articles") == len(expected)
        assert not set(parsed) & set(items)  # no good feed was parsed
        assert {"malformed", "html-page"} <= set(parsed)  # (the spy does see parsing)
        sent = server.requests[before:]
        good_paths = {f"/{name}.xml" for name in items if name.startswith(("A", "B", "C"))}
        for request in sent:
            if request.path in good_paths:
                assert request.headers.get("if-none-match"), request.path
                assert request.headers.get("if-modified-since"), request.path
        assert "/new-home.xml" in {r.path for r in sent} and "/old.xml" not in {
            r.path for r in sent
        }
        # The gone feed is disabled and the throttled ones wait: no request reached them.
        assert not {"/410.xml", "/429.xml", "/503.xml"} & {r.path for r in sent}
        assert second["gone"].skipped and "disabled" in second["gone"].skipped
        assert second["throttled"].skipped and "Retry-After" in second["throttled"].skipped
        store.close()


def test_teaser_items_get_full_text_from_their_page_once(tmp_path: Path) -> None:
    group = by_source_and_day(load_items())[("CNN", "20180404")][:6]
    with FeedServer() as server:
        for item in group:
            server.document(
                f"/a/{item['docno']}.html", article_page(item), content_type="text/html"
            )

        def link(item: dict) -> str:
            return server.url(f"/a/{item['docno']}.html")

        url = server.document("/teasers.xml", rss(group, "teasers", link_of=link, full_text=False))
        feeds = [{"name": "teasers", "url": url, "section": "news", "full_text": "auto"}]
        # The pages are on this machine (127.0.0.1): private addresses, refused by default.
        config = write_config(tmp_path, feeds, allow_private_pages=True)
        store = Store(config.database_url)
        report = ingest(config, store, NOW)
        assert report.outcomes[0].full_texts == len(group)
        stored = {a.url: a for a in store.articles_since(NOW - timedelta(days=3650))}
        for item in group:
            article = stored[canonical_url(link(item))]
            last_paragraph = " ".join(item["text"].splitlines()[-1].split())
            assert last_paragraph in " ".join(article.text.split())  # the body, not the teaser
            assert len(article.text) > 1.5 * len(item["abstract"])
            assert "جميع الحقوق محفوظة" not in article.text

        # A changed feed lists the same items again: no page is fetched twice.
        server.document("/teasers.xml", rss(group, "teasers v2", link_of=link, full_text=False))
        ingest(config, store, NOW + timedelta(hours=1))
        for item in group:
            assert len(server.hits(f"/a/{item['docno']}.html")) == 1
        store.close()


def test_the_same_item_twice_and_a_republished_copy_are_kept_once(tmp_path: Path) -> None:
    groups = by_source_and_day(load_items())
    day = groups[("Alarabia", "20180405")][:10]
    original = day[0]
    edited_text = original["text"].rstrip(".") + " وأضاف المصدر أن التحقيق مستمر."
    republished = {**original, "docno": "republished", "url": original["url"] + "?v=2"}
    republished["text"] = edited_text
    tracked = {**day[1], "docno": "tracked", "url": day[1]["url"] + "?utm_source=rss"}
    with FeedServer() as server:
        one = server.document("/one.xml", rss(day, "one"))
        two = server.document("/two.xml", rss([republished, tracked], "two"))
        feeds = [
            {"name": "one", "url": one, "section": "news", "full_text": "never"},
            {"name": "two", "url": two, "section": "news", "full_text": "never"},
        ]
        config = write_config(tmp_path, feeds)
        store = Store(config.database_url)
        report = ingest(config, store, NOW)
        assert report.new_articles == len(day)
        # Feeds are read concurrently: whichever came second counted the two copies.
        assert sum(o.duplicates for o in report.outcomes) == 2
        store.close()


def _teaser_feed(
    tmp_path: Path, server: FeedServer, group: list[dict], mode: str, *, bodies: bool = False
):
    """A feed of `group` (teasers, or with `bodies`) whose links lead to /a/<docno>.html on
    `server`, read with `full_text: mode`; its config, a store, and the link of an item."""

    def link(item: dict) -> str:
        return server.url(f"/a/{item['docno']}.html")

    url = server.document("/teasers.xml", rss(group, "teasers", link_of=link, full_text=bodies))
    feeds = [{"name": "teasers", "url": url, "section": "news", "full_text": mode}]
    # The pages are on this machine (127.0.0.1): private addresses, refused by default.
    config = write_config(tmp_path, feeds, allow_private_pages=True)
    return config, Store(config.database_url), link


def _stored(store: Store) -> dict[str, Article]:
    return {a.url: a for a in store.articles_since(NOW - timedelta(days=3650))}


def _words(text: str) -> str:
    return " ".join(text.split())


def test_a_new_item_whose_page_is_cached_takes_the_cached_text_without_a_request(
    tmp_path: Path,
) -> None:
    """The page cache outlives articles (another feed's item, an article pruned): a new item
    linking to a cached page must not fetch it again, and a cached failure counts too."""
    cached, failed = by_source_and_day(load_items())[("CNN", "20180404")][:2]
    other = by_source_and_day(load_items())[("BBC", "20180406")][0]
    with FeedServer() as server:
        config, store, link = _teaser_feed(tmp_path, server, [cached, failed], "auto")
        for item in (cached, failed):  # were it fetched, the page would give another body
            server.document(
                f"/a/{item['docno']}.html", article_page(other), content_type="text/html"
            )
        store.cache_page(
            canonical_url(link(cached)), fetched_at=NOW, status=200, text=cached["text"], error=None
        )
        store.cache_page(
            canonical_url(link(failed)), fetched_at=NOW, status=0, text=None, error="timeout"
        )
        assert store.cached_page(canonical_url(link(cached))) is not None
        report = ingest(config, store, NOW)
        assert report.new_articles == 2 and report.outcomes[0].full_texts == 1
        assert server.hits(f"/a/{cached['docno']}.html") == []
        assert server.hits(f"/a/{failed['docno']}.html") == []
        stored = _stored(store)
        from_cache = stored[canonical_url(link(cached))]
        assert _words(cached["text"].splitlines()[-1]) in _words(from_cache.text)
        assert _words(stored[canonical_url(link(failed))].text) == _words(failed["abstract"])
        store.close()


CONSENT_WALL = [  # written for this test: a page that parses as an article but is not one
    "نستخدم ملفات تعريف الارتباط لتحسين تجربتك على موقعنا وعرض إعلانات تناسب اهتماماتك.",
    "بالنقر على موافق فإنك تقبل تخزين هذه الملفات على جهازك وفق سياسة الخصوصية الخاصة بنا.",
    "يمكنك تغيير إعداداتك في أي وقت من صفحة إدارة الخصوصية أسفل الموقع.",
    "لن نتمكن من عرض المحتوى المطلوب قبل أن تختار أحد الخيارين التاليين.",
    "شركاؤنا في الإعلان قد يجمعون بيانات عن تصفحك لقياس أداء الحملات الإعلانية.",
]


def test_a_teaser_whose_page_is_not_an_article_keeps_the_feed_text(tmp_path: Path) -> None:
    home, walled = by_source_and_day(load_items())[("Alarabia", "20180405")][:2]
    bbc_home = shared("html_pages/bbc_arabic_homepage_2022/index_page_commit_7a1b403.html")
    consent = "".join(f"<p>{line}</p>" for line in CONSENT_WALL)
    wall = (
        '<!DOCTYPE html><html lang="ar"><head><meta charset="utf-8"><title>قبل المتابعة</title>'
        '<meta property="og:type" content="article"></head><body><main><article>'
        f"<h1>قبل أن تتابع القراءة</h1>{consent}</article></main></body></html>"
    ).encode()
    with FeedServer() as server:
        config, store, link = _teaser_feed(tmp_path, server, [home, walled], "auto")
        server.document(f"/a/{home['docno']}.html", bbc_home.read_bytes(), content_type="text/html")
        server.document(f"/a/{walled['docno']}.html", wall, content_type="text/html")
        report = ingest(config, store, NOW)
        assert report.new_articles == 2 and report.outcomes[0].full_texts == 0
        stored = _stored(store)
        for item in (home, walled):
            assert len(server.hits(f"/a/{item['docno']}.html")) == 1  # fetched, then not used
            assert _words(stored[canonical_url(link(item))].text) == _words(item["abstract"])
        # The home page is cached as no article; the wall was read as one, then doubted.
        assert (store.cached_page(canonical_url(link(home))) or {})["text"] is None
        assert (store.cached_page(canonical_url(link(walled))) or {})["text"]
        store.close()


def test_full_text_always_fetches_the_page_even_for_a_long_item(tmp_path: Path) -> None:
    group = by_source_and_day(load_items())[("BBC", "20180406")][:3]
    update = "وأكد المتحدث في بيان لاحق أن التحقيقات ستستمر حتى نهاية الشهر الجاري."
    with FeedServer() as server:
        config, store, link = _teaser_feed(tmp_path, server, group, "always", bodies=True)
        for item in group:  # the page carries one paragraph more than the feed
            longer = {**item, "text": item["text"] + "\n" + update}
            server.document(
                f"/a/{item['docno']}.html", article_page(longer), content_type="text/html"
            )
        report = ingest(config, store, NOW)
        assert report.outcomes[0].full_texts == len(group)
        stored = _stored(store)
        for item in group:
            assert len(item["text"].split()) > config.settings.ingest.teaser_words  # not a teaser
            assert len(server.hits(f"/a/{item['docno']}.html")) == 1
            assert update in stored[canonical_url(link(item))].text
        store.close()
