"""Hostile servers and links, against the real local server: compression bombs, and article
links to private addresses (SSRF). Entity expansion and huge items: test_ingest_fetch.py."""

from __future__ import annotations

import asyncio
import functools
import gzip
import logging
import time
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from briefing.config import Feed, Ingest
from briefing.ingest import fetch, ingest
from briefing.ingest.fetch import Fetcher, FetchResult, private_address
from briefing.ingest.parse import parse_document
from briefing.store import Store
from tests.feed_server import FeedServer, write_config

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
FEED = Feed(name="test", url="http://example.org/feed", section="news")
CAP = 1_000_000  # max_bytes in the bomb tests
MEMORY = 16_000_000  # what reading a bomb may hold at its peak, the cap included, in bytes
MiB = 1 << 20

# ---- compression bombs ---------------------------------------------------------------------


def _gzip_of_zeros(size: int) -> bytes:
    """gzip of `size` zero bytes, compressed a MiB at a time (never holding them all)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MiB)
    return b"".join(packer.compress(block) for _ in range(size // MiB)) + packer.flush()


@functools.cache
def _single_bomb() -> bytes:
    return _gzip_of_zeros(64 * MiB)  # about 64 KB


@functools.cache
def _double_bomb() -> bytes:
    return gzip.compress(_gzip_of_zeros(128 * MiB), 9)  # a few hundred bytes


def _fetch(settings: Ingest, url: str, *, page: bool = False) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(settings, Path(".")) as fetcher:
            return await fetcher.get(url, page=page)

    return asyncio.run(run())


def _measured(get: Callable[[], FetchResult]) -> tuple[FetchResult, float, int]:
    """The result of `get`, the seconds it took and the peak of memory it allocated."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        started = time.monotonic()
        result = get()
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, elapsed, peak


def test_a_double_gzip_bomb_is_refused_for_its_nested_encoding_without_inflating_it() -> None:
    with FeedServer() as server:
        url = server.encoded("/double.xml", _double_bomb(), "gzip, gzip")
        result, elapsed, peak = _measured(lambda: _fetch(Ingest(max_bytes=CAP), url))
    assert result.error == (
        "unsupported content encoding 'gzip, gzip': more than one content-coding "
        "(nested compression is refused)"
    )
    assert elapsed < 5 and peak < MEMORY, (elapsed, peak)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_single_layer_bomb_is_refused_at_the_cap_holding_about_the_cap(coding: str) -> None:
    body = _single_bomb()
    if coding == "deflate":  # zlib-wrapped, as RFC 9110 means "deflate"
        body = zlib.compress(gzip.decompress(body), 9)
    with FeedServer() as server:
        url = server.encoded("/bomb.xml", body, coding)
        result, elapsed, peak = _measured(lambda: _fetch(Ingest(max_bytes=CAP), url))
    assert result.error == f"response larger than ingest.max_bytes ({CAP} bytes)"
    assert elapsed < 5 and peak < MEMORY, (elapsed, peak)


def test_a_bomb_in_the_body_of_a_redirect_is_never_inflated() -> None:
    """httpx reads a redirect's body in full (decompressed) before following it."""
    with FeedServer() as server:
        target = server.document("/feed.xml", b"<rss>" + b" " * 600 + b"</rss>")
        url = server.encoded("/moved.xml", _single_bomb(), "gzip", status=302, location=target)
        result, elapsed, peak = _measured(lambda: _fetch(Ingest(max_bytes=CAP), url))
    assert result.error is None and result.url == target
    assert elapsed < 5 and peak < MEMORY, (elapsed, peak)


def test_an_encoding_other_than_gzip_or_deflate_is_refused_by_name() -> None:
    with FeedServer() as server:
        url = server.encoded("/feed.br", b"\x1b\x03\x00\xf8\xa5\xb2", "br")
        result = _fetch(Ingest(), url)
    assert result.error == "unsupported content encoding 'br' (only gzip and deflate are accepted)"


def _rss(text: str, link: str = "http://example.org/a") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>خبر</title><link>{link}</link><description>{text}</description>"
        "<pubDate>Sat, 28 Nov 2026 20:00:00 GMT</pubDate></item>"
        "</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),  # raw, as some send
        ("identity", lambda data: data),
    ],
)
def test_compressed_feeds_still_read_whole(coding: str, compress: Callable[[bytes], bytes]) -> None:
    """Not an attack: these must keep working (they did with httpx's decoding)."""
    document = _rss("افتتحت الوزارة محطة تحلية جديدة. " * 300)
    with FeedServer() as server:
        url = server.encoded("/feed.xml", compress(document), coding)
        result = _fetch(Ingest(), url)
    assert result.error is None and result.content == document
    [article] = parse_document(result.content, result.headers, FEED, NOW).articles
    assert article.title == "خبر"


# ---- article pages at private addresses (SSRF) ---------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # CGNAT
        "127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    ],
)
def test_private_addresses_are_recognized(address: str) -> None:
    assert private_address(address) is True


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2001:4860:4860::8888", "1.1.1.1", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_not(address: str) -> None:
    assert private_address(address) is False


REFUSED = "refused: 127.0.0.1 is a private address; set ingest.allow_private_pages to allow it"


def test_a_page_at_a_loopback_address_is_refused_but_a_feed_there_is_read() -> None:
    with FeedServer() as server:
        url = server.document("/secret", b"internal only" * 100, content_type="text/html")
        page = _fetch(Ingest(), url, page=True)
        feed = _fetch(Ingest(), url)  # feed URLs are the editor's choice: allowed
        allowed = _fetch(Ingest(allow_private_pages=True), url, page=True)
        assert len(server.hits("/secret")) == 2  # the feed and the allowed page; never the first
    assert page.error == REFUSED and page.refused and page.content == b""
    assert feed.error is None and feed.content == b"internal only" * 100
    assert allowed.error is None and allowed.content == feed.content


def test_a_name_that_resolves_to_a_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The address checked is the one connected to: a public-looking name whose DNS answer is
    private (DNS rebinding) is refused at the connection."""
    original = fetch.resolve

    async def rebinding(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "news.example" else await original(host, port)

    monkeypatch.setattr(fetch, "resolve", rebinding)
    with FeedServer() as server:
        server.document("/secret", b"internal only", content_type="text/html")
        result = _fetch(Ingest(), f"http://news.example:{server.port}/secret", page=True)
        assert server.hits("/secret") == []
    assert result.error == (
        "refused: news.example resolves to 127.0.0.1, which is a private address; "
        "set ingest.allow_private_pages to allow it"
    )


def test_a_redirect_from_a_public_page_to_a_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every hop is checked. 127.0.0.2 stands in for a public site here (it is the one address
    the check lets through): its page redirects to 127.0.0.1."""
    original = fetch.private_address
    monkeypatch.setattr(fetch, "private_address", lambda a: a != "127.0.0.2" and original(a))
    with FeedServer("127.0.0.2") as public, FeedServer("127.0.0.1") as internal:
        secret = internal.document("/secret", b"internal only", content_type="text/html")
        public.document("/story", b"<html>story</html>", content_type="text/html")
        story = _fetch(Ingest(), public.url("/story"), page=True)
        moved = _fetch(Ingest(), public.redirect("/moved", secret, 302), page=True)
        assert internal.hits("/secret") == []
    assert story.error is None and story.content == b"<html>story</html>"
    assert moved.error == REFUSED


TEASER = "افتتحت وزارة المياه محطة تحلية جديدة في المدينة الساحلية"
PAGE_TEXT = [
    TEASER + " صباح اليوم بحضور عدد من المسؤولين والخبراء في قطاع المياه.",
    "وقال الوزير إن المحطة ستنتج مئة ألف متر مكعب من المياه يوميا وتخدم نصف مليون نسمة.",
    "وأضاف أن المشروع استغرق ثلاث سنوات من العمل وبلغت كلفته نحو مئتي مليون دولار.",
    "ويأتي افتتاح المحطة ضمن خطة وطنية لتأمين مياه الشرب للمدن الساحلية حتى عام 2030.",
]


def _article_page() -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in PAGE_TEXT)
    return (
        '<html lang="ar"><head><meta charset="utf-8"><title>محطة تحلية</title></head><body>'
        f"<article><h1>افتتاح محطة تحلية جديدة</h1>{paragraphs}</article></body></html>"
    ).encode()


@pytest.mark.parametrize("allow", [False, True])
def test_an_item_linking_to_a_loopback_page_keeps_its_feed_text_unless_allowed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, allow: bool
) -> None:
    with FeedServer() as server:
        link = server.document("/secret.html", _article_page(), content_type="text/html")
        url = server.document("/feed.xml", _rss(TEASER, link))
        feeds = [{"name": "f", "url": url, "section": "news", "full_text": "auto"}]
        config = write_config(tmp_path, feeds, parse_workers=0, allow_private_pages=allow)
        store = Store(config.database_url)
        with caplog.at_level(logging.WARNING, logger="briefing.ingest"):
            [outcome] = ingest(config, store, NOW).outcomes
        [article] = store.articles_since(NOW.replace(year=2000))
        cached = store.cached_page(link)
        store.close()
        hits = len(server.hits("/secret.html"))
    assert outcome.error is None and outcome.new_items == 1
    if allow:
        assert hits == 1 and outcome.full_texts == 1
        assert PAGE_TEXT[1] in article.text
    else:
        assert hits == 0 and outcome.full_texts == 0
        assert article.text == TEASER  # the feed's text is kept
        assert f"page {link}: {REFUSED}" in caplog.messages
        assert cached is None  # not cached: allowing it takes effect at the next run
