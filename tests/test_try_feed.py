"""`briefing try-feed URL`: a feed read once, as a run would, against a real local HTTP
server, and what it tells an editor. Items and pages are written for these tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import yaml

from briefing.cli import main
from briefing.config import Feed
from tests.ant_feeds import rss
from tests.feed_server import FeedServer, write_config

NOW = datetime.now(UTC)
ITEMS = [
    {
        "docno": f"item{n}",
        "title": f"خبر تجريبي {n} عن افتتاح مكتبة عامة جديدة في المدينة",
        "pub_time": format_datetime(NOW - timedelta(hours=n)),
        "abstract": f"نص تجريبي قصير رقم {n} كتب لهذا الاختبار وحده.",
        "text": "",
    }
    for n in range(1, 4)
]
PARAGRAPHS = [
    "افتتحت البلدية صباح اليوم مكتبة عامة جديدة في وسط المدينة تضم أكثر من عشرين ألف كتاب "
    "في الأدب والتاريخ والعلوم، وقاعات للقراءة وأخرى لأنشطة الأطفال.",
    "وقال رئيس البلدية في كلمة الافتتاح إن المكتبة ستفتح أبوابها طوال أيام الأسبوع، وإن "
    "الاشتراك فيها مجاني لجميع سكان المدينة وطلاب المدارس والجامعات.",
    "وأضاف أن المشروع استغرق عامين من العمل، وأن المكتبة ستنظم كل شهر لقاءات مع كتاب "
    "وباحثين، وورشا في الكتابة والترجمة للشباب.",
    "وحضر الافتتاح عدد من الكتاب والفنانين وممثلي الجمعيات الثقافية، الذين تجولوا في "
    "أقسام المكتبة واطلعوا على مجموعاتها النادرة من المخطوطات.",
    "ومن المنتظر أن تفتتح البلدية مكتبتين أخريين في الأحياء الشمالية والجنوبية خلال العام "
    "المقبل، ضمن خطة لنشر القراءة في كل أحياء المدينة.",
]
PAGE = (
    '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
    "<title>افتتاح مكتبة عامة جديدة</title></head><body><main><article>"
    "<h1>افتتاح مكتبة عامة جديدة في المدينة</h1>"
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    + "</article></main></body></html>"
).encode()


def _serve(server: FeedServer, *, whole: bool = False) -> str:
    items = [{**item, "text": "\n".join(PARAGRAPHS)} for item in ITEMS] if whole else ITEMS
    for item in ITEMS:
        server.document(f"/news/{item['docno']}.html", PAGE, content_type="text/html")
    document = rss(
        items,
        "أخبار تجريبية",
        link_of=lambda item: server.url(f"/news/{item['docno']}.html"),
        full_text=whole,
    )
    return server.document("/feed.xml", document)


def _try(tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str], *extra: str):
    # The pages are on this machine (127.0.0.1): private addresses, refused by default.
    existing = {"name": "existing", "url": "https://example.org/feed.xml", "section": "news"}
    config = write_config(tmp_path, [existing], allow_private_pages=True)
    code = main(["try-feed", url, "--config", str(config.path), *extra])
    return code, capsys.readouterr()


def test_a_teaser_feed_is_described_with_its_first_page_and_an_entry_to_paste(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as server:
        url = _serve(server)
        code, out = _try(tmp_path, url, capsys)
        assert code == 0, out.err
        page = server.url("/news/item1.html")
        assert len(server.hits("/news/item1.html")) == 1
        assert server.hits("/news/item2.html") == []  # one page is enough to tell
    lines = out.out.splitlines()
    assert lines[0] == f"{url}: 3 items, «أخبار تجريبية»"
    assert lines[1].endswith("(Asia/Riyadh); 0 undated")
    assert "  language: ar" in lines
    assert "3 of 3 are teasers: full_text auto fetches their pages" in lines[3]
    assert "  conditional GET: ETag and Last-Modified" in lines
    words = len(" ".join(PARAGRAPHS).split())
    [said] = [line for line in lines if line.startswith("  first teaser's page: ")]
    assert said.endswith(f"words of text ({page})")
    assert words - 5 <= int(said.split()[3]) <= words + 12  # the page's text, give or take
    entry = yaml.safe_load(
        "\n".join(lines[lines.index(next(x for x in lines if x.startswith("feeds.yaml"))) + 1 :])
    )
    feed = Feed(**entry[0])
    assert (feed.name, feed.url, feed.section, feed.full_text) == (
        "أخبار تجريبية",
        url,
        "news",
        "auto",
    )


def test_a_page_robots_txt_disallows_is_not_fetched_and_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as server:
        server.document(
            "/robots.txt", b"User-agent: *\nDisallow: /news/\n", content_type="text/plain"
        )
        url = _serve(server)
        code, out = _try(tmp_path, url, capsys)
        assert server.hits("/news/item1.html") == []
        robots = server.url("/robots.txt")
    assert code == 0
    said = f"  first teaser's page: not fetched, {robots} disallows it"
    assert said in out.out


def test_a_feed_with_whole_texts_needs_no_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as server:
        url = _serve(server, whole=True)
        code, out = _try(tmp_path, url, capsys, "--section", "news")
        assert server.hits("/news/item1.html") == []
    assert code == 0
    assert "whole texts: no page needs fetching" in out.out
    assert "    full_text: never" in out.out
    assert "first teaser's page" not in out.out


def test_a_feed_that_cannot_be_read_or_a_wrong_section_says_why_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as server:
        missing = server.status("/gone.xml", 404)
        code, out = _try(tmp_path, missing, capsys)
        assert code == 1
        assert f"briefing: {missing}: HTTP 404 Not Found (open the URL in a browser)" in out.err
        page = server.document(
            "/home.html", b"<html><head></head><body>hi</body></html>", content_type="text/html"
        )
        code, out = _try(tmp_path, page, capsys)
        assert code == 1 and "serves an HTML page, not an RSS/Atom feed" in out.err
        url = _serve(server)
        code, out = _try(tmp_path, url, capsys, "--section", "sport")
    assert code == 1
    assert "no section 'sport' in" in out.err and "(sections: news)" in out.err
