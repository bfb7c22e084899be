"""Fetching and parsing details against a real local server; no shared data needed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from briefing.config import Feed, Ingest
from briefing.errors import ConfigError, FeedError
from briefing.ingest import ingest
from briefing.ingest.fetch import Fetcher, FetchResult, parse_retry_after
from briefing.ingest.filters import wanted
from briefing.ingest.language import detect_language
from briefing.ingest.parse import MAX_ITEM_CHARS, canonical_url, parse_document
from briefing.store import Store, articles
from tests.feed_server import FeedServer, InFlight, write_config

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
FEED = Feed(name="test", url="http://example.org/feed", section="news")


def _rss(items: list[tuple[str, str, str]], encoding: str = "utf-8") -> bytes:
    """A small RSS document written for these tests: (title, link, description) items."""
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><description>{d}</description>"
        "<pubDate>Sat, 28 Nov 2026 05:10:00 +0000</pubDate></item>"
        for t, link, d in items
    )
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel>'
        f"<title>t</title><link>http://example.org/</link>{body}</channel></rss>"
    )
    return document.encode(encoding)


ITEMS = [
    ("افتتاح محطة تحلية جديدة", "http://example.org/a?utm_source=rss#top", "افتتحت الوزارة محطة."),
    ("البنك المركزي يخفض الفائدة", "javascript:alert(1)", "خفض البنك سعر الفائدة."),
]


def _get_all(settings: Ingest, urls: list[str], **options: bool) -> list[FetchResult]:
    async def run() -> list[FetchResult]:
        async with Fetcher(settings, Path("."), **options) as fetcher:
            return await asyncio.gather(*(fetcher.get(u) for u in urls))

    return asyncio.run(run())


def test_no_more_than_per_host_requests_reach_one_host_at_once() -> None:
    with FeedServer("127.0.0.1") as one, FeedServer("127.0.0.2") as two:
        urls = []
        for server in (one, two):
            for i in range(6):
                urls.append(server.document(f"/f{i}.xml", _rss(ITEMS), delay=0.2))
        results = _get_all(Ingest(per_host=2, concurrency=16), urls)
        assert all(r.error is None for r in results)
        assert one.max_active == {f"127.0.0.1:{one.port}": 2}
        assert two.max_active == {f"127.0.0.2:{two.port}": 2}


def test_no_more_than_concurrency_requests_are_in_flight_across_hosts() -> None:
    in_flight = InFlight()
    with (
        FeedServer("127.0.0.1", in_flight) as one,
        FeedServer("127.0.0.2", in_flight) as two,
    ):
        urls = [
            server.document(f"/f{i}.xml", _rss(ITEMS), delay=0.2)
            for server in (one, two)
            for i in range(4)
        ]
        results = _get_all(Ingest(per_host=4, concurrency=3), urls)
        assert all(r.error is None for r in results)
        # Each host alone may take 4; together they never get more than 3 (and do get 3).
        assert in_flight.peak == 3


def test_a_busy_host_does_not_hold_the_other_hosts_back() -> None:
    """Eight slow feeds on one host, two on another, global 4, per host 2: a request waiting
    for its host's slot must not sit on a global slot, or the other host waits for nothing."""
    in_flight = InFlight()
    with (
        FeedServer("127.0.0.1", in_flight) as busy,
        FeedServer("127.0.0.2", in_flight) as other,
    ):
        slow = [busy.document(f"/s{i}.xml", _rss(ITEMS), delay=0.5) for i in range(8)]
        quick = [other.document(f"/q{i}.xml", _rss(ITEMS)) for i in range(2)]
        done: list[str] = []  # URLs in the order their answers came back

        async def get(fetcher: Fetcher, url: str) -> FetchResult:
            result = await fetcher.get(url)
            done.append(url)
            return result

        async def run() -> list[FetchResult]:
            async with Fetcher(Ingest(per_host=2, concurrency=4), Path(".")) as fetcher:
                return await asyncio.gather(*(get(fetcher, u) for u in slow + quick))

        results = asyncio.run(run())
        assert all(r.error is None for r in results)
        assert in_flight.peak <= 4
        assert set(done[:2]) == set(quick), done  # before any of the slow host's answers
        other_arrivals = [a for a in in_flight.arrivals if a[0] == other.host]
        assert len(other_arrivals) == 2
        for _, now, received in other_arrivals:
            # Served beside the busy host's first two requests, not queued behind its eight.
            assert received.get(busy.host, 0) <= 2, (now, received)


def test_requests_name_the_project_and_accept_gzip() -> None:
    with FeedServer() as server:
        body = _rss(ITEMS * 50)
        [result] = _get_all(Ingest(), [server.document("/big.xml", body)])
        assert result.content == body  # sent gzipped, read decoded
        [request] = server.hits("/big.xml")
        assert request.headers["user-agent"].startswith("briefing/")
        assert "gzip" in request.headers["accept-encoding"]


def test_only_allowed_schemes_are_fetched(tmp_path: Path) -> None:
    local = tmp_path / "feed.xml"
    local.write_bytes(_rss(ITEMS))
    off, ftp = _get_all(Ingest(), [local.as_uri(), "ftp://example.org/feed.xml"])
    assert off.error and "file: URLs are off" in off.error
    assert ftp.error and "'ftp' is not allowed" in ftp.error
    [on] = _get_all(Ingest(), [local.as_uri()], allow_files=True)
    assert on.error is None and on.content == local.read_bytes()


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    with FeedServer() as server:
        url = server.document("/big.xml", b"<rss>" + b" " * 50_000 + b"</rss>")
        [result] = _get_all(Ingest(max_bytes=10_000), [url])
        assert result.error and "larger than ingest.max_bytes" in result.error


def test_permanent_and_temporary_redirects() -> None:
    with FeedServer() as server:
        server.document("/new.xml", _rss(ITEMS))
        moved = server.redirect("/moved.xml", "/new.xml", 308)
        visiting = server.redirect("/visiting.xml", "/new.xml", 302)
        permanent, temporary = _get_all(Ingest(), [moved, visiting])
        assert permanent.permanent_url == server.url("/new.xml")
        assert temporary.error is None and temporary.permanent_url is None


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Sun, 29 Nov 2026 07:00:00 GMT", NOW) == 3600
    assert parse_retry_after("soon") is None


def test_feed_encodings_and_links() -> None:
    for document in (
        _rss(ITEMS, "windows-1256"),
        b"\xef\xbb\xbf" + _rss(ITEMS),
    ):
        parsed = parse_document(document, {}, FEED, NOW)
        # The item whose only link is javascript: is dropped: no link, no GUID to key it by.
        assert parsed.entries == 2 and [a.title for a in parsed.articles] == [ITEMS[0][0]]
        assert parsed.articles[0].url == "http://example.org/a"  # no tracking, no fragment
    # The charset from the HTTP header wins over a missing declaration.
    bare = _rss(ITEMS, "windows-1256").replace(b' encoding="windows-1256"', b"")
    headers = {"content-type": "application/rss+xml; charset=windows-1256"}
    assert parse_document(bare, headers, FEED, NOW).articles[0].title == ITEMS[0][0]


RSS_091 = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
 "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>أخبار</title><link>http://example.org/</link>
<description>أخبار</description><language>ar</language>
<item><title>افتتاح محطة تحلية جديدة</title><link>http://example.org/news/1</link>
<description>افتتحت الوزارة محطة تحلية جديدة في المدينة.</description></item>
<item><title>البنك المركزي يخفض الفائدة</title><link>http://example.org/news/2</link>
<description>خفض البنك المركزي سعر الفائدة نصف نقطة.</description></item>
</channel></rss>"""

RSS_10 = """<?xml version="1.0" encoding="windows-1256"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
 xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://example.org/rss"><title>أخبار</title>
<link>http://example.org/</link><description>أخبار</description>
<items><rdf:Seq><rdf:li rdf:resource="http://example.org/news/1"/>
<rdf:li rdf:resource="http://example.org/news/2"/></rdf:Seq></items></channel>
<item rdf:about="http://example.org/news/1"><title>افتتاح محطة تحلية جديدة</title>
<link>http://example.org/news/1</link><dc:date>2026-11-28T08:10:00+03:00</dc:date>
<description>افتتحت الوزارة محطة تحلية جديدة في المدينة.</description></item>
<item rdf:about="http://example.org/news/2"><title>البنك المركزي يخفض الفائدة</title>
<link>http://example.org/news/2</link><dc:date>2026-11-28T06:30:00Z</dc:date>
<description>خفض البنك المركزي سعر الفائدة نصف نقطة.</description></item>
</rdf:RDF>"""

OLD_FORMAT_TITLES = ["افتتاح محطة تحلية جديدة", "البنك المركزي يخفض الفائدة"]
OLD_FORMAT_LINKS = ["http://example.org/news/1", "http://example.org/news/2"]


def test_rss_091_items_come_through_with_the_fetch_time_as_their_date() -> None:
    parsed = parse_document(RSS_091.encode("utf-8"), {}, FEED, NOW)
    assert [a.title for a in parsed.articles] == OLD_FORMAT_TITLES
    assert [a.url for a in parsed.articles] == OLD_FORMAT_LINKS
    # RSS 0.91 items carry no date: the fetch time stands in, flagged.
    assert all(a.published == NOW and a.published_estimated for a in parsed.articles)
    assert parsed.warning is None


def test_rss_10_rdf_items_come_through_with_their_dates_in_utc() -> None:
    parsed = parse_document(RSS_10.encode("windows-1256"), {}, FEED, NOW)
    assert [a.title for a in parsed.articles] == OLD_FORMAT_TITLES
    assert [a.url for a in parsed.articles] == OLD_FORMAT_LINKS
    assert [a.published for a in parsed.articles] == [
        datetime(2026, 11, 28, 5, 10, tzinfo=UTC),
        datetime(2026, 11, 28, 6, 30, tzinfo=UTC),
    ]
    assert not any(a.published_estimated for a in parsed.articles)


def _item(extra: str) -> str:
    return (
        "<item><title>افتتاح محطة تحلية جديدة</title><link>http://example.org/a</link>"
        f"<description>افتتحت الوزارة محطة.</description>{extra}</item>"
    )


def _channel(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>http://example.org/</link>{''.join(items)}</channel></rss>"
    ).encode()


def test_an_item_without_a_date_takes_the_fetch_time_in_utc_flagged() -> None:
    riyadh = NOW.astimezone(timezone(timedelta(hours=3)))  # the run's clock, in local time
    [article] = parse_document(_channel(_item("")), {}, FEED, riyadh).articles
    assert article.published_estimated is True
    assert article.published == NOW and article.published.utcoffset() == timedelta(0)


def test_a_published_time_with_an_offset_is_converted_to_utc() -> None:
    [article] = parse_document(
        _channel(_item("<pubDate>Sat, 28 Nov 2026 08:10:00 +0300</pubDate>")), {}, FEED, NOW
    ).articles
    assert article.published == datetime(2026, 11, 28, 5, 10, tzinfo=UTC)
    assert article.published.utcoffset() == timedelta(0)
    assert article.published_estimated is False


def test_author_and_guid_are_kept() -> None:
    extra = (
        "<author>newsroom@example.org (محمد علي)</author>"
        '<guid isPermaLink="false">example-2026-11-28-0042</guid>'
    )
    [article] = parse_document(_channel(_item(extra)), {}, FEED, NOW).articles
    assert article.guid == "example-2026-11-28-0042"
    assert article.author == "newsroom@example.org (محمد علي)"
    assert article.url == "http://example.org/a"  # the link, not the GUID, keys the article


def test_a_broken_feed_with_readable_items_is_kept_with_a_warning() -> None:
    document = _rss(ITEMS).replace(b"</channel></rss>", b"<item><title>x</ti")
    parsed = parse_document(document, {}, FEED, NOW)
    assert parsed.articles[0].title == ITEMS[0][0] and parsed.warning


def test_canonical_urls() -> None:
    assert (
        canonical_url("HTTPS://WWW.Example.ORG:443/a/b?id=3&utm_medium=x&fbclid=y#c")
        == "https://www.example.org/a/b?id=3"
    )


def test_language_is_detected_per_item() -> None:
    assert detect_language("قال الرئيس إن الحكومة ستعمل على خفض الأسعار") == "ar"
    assert detect_language("The president said prices would fall next year") == "en"
    assert detect_language("رئیس جمهور ایران گفت که دولت کار می‌کند") == "fa"
    assert detect_language("12", default="ar") == "ar"


@pytest.mark.parametrize(
    ("include", "exclude", "kept"),
    [
        ((), (), True),
        (("إسرائيل",), (), True),  # matches اسرائيل in the normalized text
        (("الرياضة",), (), False),
        ((), ("/غز[هة]/",), False),
        (("اسرائيل",), ("كرة القدم",), True),
    ],
)
def test_include_and_exclude_filters_match_normalized_arabic(
    include: tuple[str, ...], exclude: tuple[str, ...], kept: bool
) -> None:
    [article] = parse_document(
        _rss([("قصف على غزة", "http://e.org/1", "قالت مصادر إن الطائرات الاسرائيلية قصفت")]),
        {},
        FEED,
        NOW,
    ).articles
    feed = FEED.model_copy(update={"include": include, "exclude": exclude})
    assert wanted(article, feed) is kept


@pytest.mark.parametrize(
    ("expression", "title", "kept"),
    [
        # Written as editors write: hamza on the alef, ة, ى, and with or without tashkeel.
        ("/إسرائيل/", "الجيش الاسرائيلي يعلن انسحابه", True),
        ("/إسرائيل/", "مسؤول في اسرائيل: لا اتفاق بعد", True),
        ("/إسرائيل/", "وزير الخارجية الأمريكي يزور إِسْرَائِيل", True),
        ("/إسرائيل/", "الاحتلال يغلق المعابر", False),
        ("/(الضفة|القدس)/", "اقتحامات واعتقالات في الضفه الغربية", True),
        ("/(الضفة|القدس)/", "مسيرة حاشدة في القُدْس المحتلة", True),
        ("/(الضفة|القدس)/", "قصف على خان يونس", False),
        ("/(الضفة|القدس)/", "مواجهات في الضفّة", True),
        ("/مستشفى/", "نقل الجرحى إلى مستشفي الشفاء", True),
        ("/مُسْتَشْفَى/", "نقل الجرحى إلى مستشفى الشفاء", True),
        # Regex syntax survives: \S is not lowercased into \s, Latin letters match any case.
        ("/مستشفى\\s+\\S+/", "نقل الجرحى إلى مستشفى الشفاء", True),
        ("/Israel/", "Israeli forces leave the town", True),
    ],
)
def test_regular_expression_filters_are_normalized_like_the_text(
    expression: str, title: str, kept: bool
) -> None:
    [article] = parse_document(_rss([(title, "http://e.org/1", "")]), {}, FEED, NOW).articles
    assert wanted(article, FEED.model_copy(update={"include": (expression,)})) is kept
    assert wanted(article, FEED.model_copy(update={"exclude": (expression,)})) is not kept


def test_a_disabled_feed_comes_back_when_its_url_changes(tmp_path: Path) -> None:
    with FeedServer() as server:
        gone = server.status("/gone.xml", 410)
        config = write_config(tmp_path, [{"name": "f", "url": gone, "section": "news"}])
        store = Store(config.database_url)
        assert ingest(config, store, NOW).outcomes[0].error == "HTTP 410 Gone"
        assert ingest(config, store, NOW + timedelta(hours=1)).outcomes[0].skipped
        assert len(server.hits("/gone.xml")) == 1
        fixed = server.document("/fixed.xml", _rss(ITEMS))
        config = write_config(tmp_path, [{"name": "f", "url": fixed, "section": "news"}])
        outcome = ingest(config, store, NOW + timedelta(hours=2)).outcomes[0]
        assert outcome.error is None and outcome.new_items == 1
        state = store.feed_state("f")
        assert state is not None and state["disabled_reason"] is None
        store.close()


def test_a_database_from_an_older_version_gains_the_new_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the feeds table as the first version created it
        conn.execute(
            "CREATE TABLE feeds (name VARCHAR(200) PRIMARY KEY, url TEXT NOT NULL, etag TEXT, "
            "last_modified TEXT, last_success DATETIME, last_attempt DATETIME, last_error TEXT, "
            "consecutive_failures INTEGER NOT NULL, new_items_last_run INTEGER NOT NULL, "
            "disabled_reason TEXT, retry_after DATETIME)"
        )
    store = Store(f"sqlite:///{path}")
    store.save_feed_state("f", url="http://e.org/", config_url="http://e.org/", last_warning="x")
    state = store.feed_state("f")
    assert state is not None and state["last_warning"] == "x"
    store.close()


# ---- entity expansion and huge items -----------------------------------------------------


def _one_item(text: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>خبر</title><link>http://example.org/a</link>"
        f"<description>{text}</description></item></channel></rss>"
    ).encode()


ENTITY_FEEDS = {
    "internal subset": '<!DOCTYPE rss [<!ENTITY a "{0}">]>',
    "after a comment holding ]": '<!DOCTYPE rss [<!-- ] --><!ENTITY a "{0}">]>',
    "parameter entity": '<!DOCTYPE rss [<!ENTITY % p "x"><!ENTITY a "{0}">]>',
}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("doctype", list(ENTITY_FEEDS))
def test_a_feed_declaring_entities_is_refused_before_parsing(doctype: str, encoding: str) -> None:
    declaration = ENTITY_FEEDS[doctype].format("x" * 1000)
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?>{declaration}<rss version="2.0"><channel>'
        "<title>t</title><item><title>&a;&a;&a;&a;</title><link>http://e.org/1</link>"
        "</item></channel></rss>"
    ).encode(encoding)
    with pytest.raises(FeedError) as caught:
        parse_document(document, {}, FEED, NOW)
    assert str(caught.value).startswith(
        "the feed declares XML entities, which feeds never need; refused to avoid entity expansion"
    )


def test_a_feed_with_a_public_doctype_and_no_entities_is_read() -> None:
    document = (
        b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd">'
    ) + _one_item("نص الخبر").split(b"?>", 1)[1]
    [article] = parse_document(document, {}, FEED, NOW).articles
    assert article.text == "نص الخبر"


def test_an_item_longer_than_the_limit_is_cut_at_a_line_end_with_a_warning() -> None:
    line = "سطر من نص طويل جدا يتكرر في هذا الخبر. "
    paragraphs = [f"{n} {line * 20}" for n in range(600)]  # about 500,000 characters
    text = "".join(f"<p>{p}</p>" for p in paragraphs)
    parsed = parse_document(_one_item(text), {}, FEED, NOW)
    [article] = parsed.articles
    assert MAX_ITEM_CHARS // 2 < len(article.text) <= MAX_ITEM_CHARS
    kept = article.text.splitlines()
    assert kept == [p.strip() for p in paragraphs[: len(kept)]]  # whole paragraphs only
    assert parsed.warning == (
        f"1 item(s) longer than {MAX_ITEM_CHARS} characters were cut (first: http://example.org/a)"
    )


def test_a_page_instead_of_a_feed_names_the_feed_it_announces(tmp_path: Path) -> None:
    # A site that moved its feed often sends the old feed URL to its home page, whose head
    # announces the feed to browsers and feed readers.
    page = (
        '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        '<link rel="alternate" hreflang="en" href="https://example.org/en/">'
        '<link rel="alternate" type="application/rss+xml" title="الأخبار" href="/ar/rss.xml">'
        '<link rel="ALTERNATE" type="application/atom+xml; charset=utf-8" '
        'href="https://feeds.example.org/ar.atom">'
        '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
        "</head><body><h1>الصفحة الرئيسية</h1></body></html>"
    ).encode()
    with FeedServer() as server:
        moved = server.document("/home", page, content_type="text/html; charset=utf-8")
        plain = server.document(
            "/plain", b"<html><body>home</body></html>", content_type="text/html"
        )
        config = write_config(
            tmp_path,
            [
                {"name": "moved", "url": moved, "section": "news"},
                {"name": "plain", "url": plain, "section": "news"},
            ],
        )
        store = Store(config.database_url)
        errors = {o.feed: o.error for o in ingest(config, store, NOW).outcomes}
        store.close()
    assert errors["moved"] == (
        "the URL serves an HTML page, not an RSS/Atom feed; the page names its feed: "
        f"{server.url('/ar/rss.xml')} (or https://feeds.example.org/ar.atom) "
        "(put that URL in feeds.yaml)"
    )
    assert errors["plain"] == (
        "the URL serves an HTML page, not an RSS/Atom feed (find the page's feed link "
        "(often /rss or /feed) and use that URL)"
    )


def _dated(items: list[tuple[str, str]]) -> bytes:
    """An RSS document of (link, pubDate) items."""
    body = "".join(
        f"<item><title>خبر {n}</title><link>{link}</link><description>نص الخبر {n}</description>"
        f"<pubDate>{date}</pubDate></item>"
        for n, (link, date) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"{body}</channel></rss>"
    ).encode()


def test_an_item_dated_in_the_future_takes_its_fetch_time_and_the_feed_is_warned(
    tmp_path: Path,
) -> None:
    # NOW is 06:00 UTC. A Gulf site writing its local time (09:10, UTC+3) as GMT puts an
    # item 3 h 10 min ahead; a clock 5 minutes fast is only skew.
    document = _dated(
        [
            ("http://example.org/local-time", "Sun, 29 Nov 2026 09:10:00 GMT"),
            ("http://example.org/fast-clock", "Sun, 29 Nov 2026 06:05:00 GMT"),
            ("http://example.org/past", "Sun, 29 Nov 2026 04:30:00 +0300"),
        ]
    )
    with FeedServer() as server:
        url = server.document("/dated.xml", document)
        config = write_config(tmp_path, [{"name": "gulf", "url": url, "section": "news"}])
        store = Store(config.database_url)
        outcome = ingest(config, store, NOW).outcomes[0]
        stored = {a.url: a for a in store.articles_since(NOW - timedelta(days=1))}
        state = store.feed_state("gulf")
        store.close()
    assert outcome.new_items == 3
    ahead, fast, past = (
        stored[f"http://example.org/{k}"] for k in ("local-time", "fast-clock", "past")
    )
    assert (ahead.published, ahead.published_estimated) == (NOW, True)
    assert (fast.published, fast.published_estimated) == (NOW, False)
    assert (past.published, past.published_estimated) == (
        datetime(2026, 11, 29, 1, 30, tzinfo=UTC),
        False,
    )
    expected = (
        "1 item(s) dated in the future (up to 3.2 h ahead of the fetch): their fetch time "
        "stands in; if the feed writes its local time as GMT, set its timezone in feeds.yaml"
    )
    assert outcome.warning == expected
    assert state is not None and state["last_warning"] == expected


def test_undated_items_of_a_feeds_first_read_stay_out_of_editions_later_ones_are_dated_when_seen(
    tmp_path: Path,
) -> None:
    def undated(*names: str) -> str:
        return "".join(
            f"<item><title>خبر {n}</title><link>http://example.org/{n}</link>"
            f"<description>نص الخبر {n}</description></item>"
            for n in names
        )

    def document(items: str) -> bytes:
        dated = _dated([("http://example.org/dated", "Sun, 29 Nov 2026 04:30:00 +0300")])
        return dated.replace(b"</channel>", items.encode() + b"</channel>")

    later = NOW + timedelta(hours=2)
    with FeedServer() as server:
        url = server.document("/undated.xml", document(undated("old-1", "old-2")))
        config = write_config(tmp_path, [{"name": "agency", "url": url, "section": "news"}])
        store = Store(config.database_url)
        first = ingest(config, store, NOW).outcomes[0]
        in_window = {a.url.rsplit("/", 1)[1] for a in store.articles_since(NOW - timedelta(days=1))}
        with store.engine.connect() as conn:
            kept = dict(conn.execute(select(articles.c.url, articles.c.backlog)).all())
        server.document("/undated.xml", document(undated("old-1", "old-2", "new")))
        second = ingest(config, store, later).outcomes[0]
        window = {a.url.rsplit("/", 1)[1]: a for a in store.articles_since(NOW - timedelta(days=1))}
        state = store.feed_state("agency")
        store.close()
    assert first.new_items == 3 and in_window == {"dated"}
    assert first.warning == (
        "2 item(s) without a date on the feed's first read: kept out of editions, as their "
        "age is unknown; items without a date that appear later are dated when first seen"
    )
    assert kept == {  # all stored, so that the next read knows them
        "http://example.org/dated": False,
        "http://example.org/old-1": True,
        "http://example.org/old-2": True,
    }
    assert second.new_items == 1 and second.warning is None
    assert state is not None and state["last_warning"] is None
    assert set(window) == {"dated", "new"}  # never old-1 or old-2
    assert (window["new"].published, window["new"].published_estimated) == (later, True)


def test_a_feed_that_writes_local_time_as_gmt_is_read_right_with_its_time_zone(
    tmp_path: Path,
) -> None:
    # The same Gulf site as above, its timezone set: every date is read as written, as a
    # Riyadh time (UTC+3), whatever offset it claims, in RSS and in Atom.
    rss = _dated(
        [
            ("http://example.org/gmt", "Sun, 29 Nov 2026 08:40:00 GMT"),
            ("http://example.org/offset", "Sun, 29 Nov 2026 07:15:00 +0000"),
            ("http://example.org/no-zone", "29 Nov 2026 02:00"),
        ]
    )
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>t</title><entry><title>خبر</title><link href='http://example.org/atom'/>"
        "<id>tag:example.org,2026:1</id><summary>نص الخبر</summary>"
        "<updated>2026-11-29T08:50:00Z</updated></entry></feed>"
    ).encode()
    with FeedServer() as server:
        feeds = [
            {"name": "rss", "url": server.document("/r.xml", rss), "section": "news"},
            {"name": "atom", "url": server.document("/a.xml", atom), "section": "news"},
        ]
        for feed in feeds:
            feed["timezone"] = "Asia/Riyadh"
        config = write_config(tmp_path, feeds)
        store = Store(config.database_url)
        outcomes = ingest(config, store, NOW).outcomes
        stored = {a.url.rsplit("/", 1)[1]: a for a in store.articles_since(NOW - timedelta(days=1))}
        store.close()
    assert [o.warning for o in outcomes] == [None, None]  # nothing ahead any more
    utc = {key: (a.published.strftime("%H:%M"), a.published_estimated) for key, a in stored.items()}
    assert utc == {
        "gmt": ("05:40", False),
        "offset": ("04:15", False),
        "no-zone": ("23:00", False),  # 02:00 in Riyadh on the 29th: 23:00 UTC on the 28th
        "atom": ("05:50", False),
    }


def test_a_feed_time_zone_must_be_a_real_zone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        write_config(
            tmp_path,
            [{"name": "f", "url": "https://e.org/r", "section": "news", "timezone": "GMT+3"}],
        )
    [problem] = caught.value.problems
    assert problem.endswith(
        "feeds.yaml:4: feeds.0.timezone: 'GMT+3' is not an IANA time zone (e.g. Asia/Riyadh)"
    )
