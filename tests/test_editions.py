"""Which stories each morning's edition tells, over several days: a story is told once, and
again when it grows; nothing is lost to a reader's cap, a feed that was down, a story that
outlived the window, or a morning when no feed could be read. Real feeds over HTTP, a real
SQLite file, a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import yaml

from briefing.cli import main
from briefing.config import load_config
from briefing.pipeline import build_edition, run_edition
from briefing.store import Store
from tests.feed_server import FeedServer
from tests.mail import body_text
from tests.servers import smtp_sink

DAY1 = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # 07:00 in Riyadh
DAY2 = DAY1 + timedelta(days=1)

# Five unrelated stories: (title, body). Each body is long enough to be a story of its own.
TOPICS = [
    (
        "افتتاح مستشفى جديد في الرياض",
        "افتتحت وزارة الصحة مستشفى جديدا في الرياض بسعة خمسمئة سرير لخدمة الأحياء الجنوبية "
        "ويضم أقساما للطوارئ والجراحة والأطفال.",
    ),
    (
        "ارتفاع أسعار الذهب في الأسواق العالمية",
        "ارتفعت أسعار الذهب في الأسواق العالمية إلى أعلى مستوى منذ شهرين مع تراجع الدولار "
        "وإقبال المستثمرين على الملاذات الآمنة.",
    ),
    (
        "فوز الهلال على النصر في الدوري",
        "فاز فريق الهلال على النصر بهدفين مقابل هدف في مباراة الدوري التي أقيمت مساء أمس "
        "وسط حضور جماهيري كبير في الملعب.",
    ),
    (
        "إطلاق قمر صناعي لرصد المناخ",
        "أطلقت وكالة الفضاء قمرا صناعيا جديدا لرصد تغيرات المناخ وقياس درجات حرارة المحيطات "
        "على مدى عشر سنوات من المهمة.",
    ),
    (
        "معرض الكتاب يستقبل آلاف الزوار",
        "استقبل معرض الكتاب الدولي آلاف الزوار في يومه الأول وشاركت فيه دور نشر من ثلاثين "
        "دولة عربية وأجنبية بعناوين جديدة.",
    ),
]


# A story told on day 1 that grows on day 2: the crack (title, body), then the repairs (title,
# the sentence that is new).
DAM = (
    "تصدع في جدار سد الوادي وإخلاء القرى القريبة منه",
    "ظهر تصدع كبير في جدار سد الوادي صباح الجمعة، وأخلت السلطات القرى القريبة من السد "
    "احتياطا من انهيار الجدار وغرق الوادي.",
    "بدء ترميم جدار سد الوادي بعد إخلاء القرى القريبة منه",
    "بدأت فرق الصيانة صباح السبت ترميم جدار سد الوادي بالخرسانة المسلحة.",
)


def _item(site: str, slug: str, title: str, body: str, published: datetime) -> dict:
    return {"site": site, "slug": slug, "title": title, "body": body, "published": published}


def _rss(items: list[dict]) -> bytes:
    entries = "".join(
        f"<item><title>{i['title']}</title><link>https://{i['site']}/{i['slug']}</link>"
        f"<guid>{i['site']}/{i['slug']}</guid><description>{i['body']}</description>"
        f"<pubDate>{format_datetime(i['published'])}</pubDate></item>"
        for i in items
    )
    channel = f"<channel><title>feed</title>{entries}</channel>"
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0">{channel}</rss>'.encode()


def _config(
    folder: Path,
    site: FeedServer,
    feeds: list[str],
    port: int,
    database: str,
    max_stories: int = 10,
):
    settings = {
        "timezone": "Asia/Riyadh",
        "database": database,
        "outbox": str(folder / "outbox"),
        "sections": {"news": "أخبار"},
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "retries": 0},
    }
    feed_list = [
        {"name": name, "url": site.url(f"/{name}.xml"), "section": "news", "full_text": "never"}
        for name in feeds
    ]
    readers = [{"email": "reader@example.org", "max_stories": max_stories}]
    (folder / "briefing.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), "utf-8")
    (folder / "feeds.yaml").write_text(
        yaml.safe_dump({"feeds": feed_list}, allow_unicode=True), "utf-8"
    )
    (folder / "subscribers.yaml").write_text(
        yaml.safe_dump({"subscribers": readers}, allow_unicode=True), "utf-8"
    )
    return load_config(folder / "briefing.yaml")


def _headlines(message) -> list[str]:  # type: ignore[no-untyped-def]
    text = message.get_body(("plain",)).get_content()
    return [
        line[2:].removesuffix(" [محدث]").strip()
        for line in text.splitlines()
        if line.startswith("■ ")
    ]


def test_stories_beyond_the_readers_cap_are_told_the_next_morning(
    tmp_path: Path, database_url: str
) -> None:
    items = [
        _item("one.example", f"s{n}", title, body, DAY1 - timedelta(hours=1, minutes=n))
        for n, (title, body) in enumerate(TOPICS)
    ]
    with FeedServer() as site, smtp_sink() as (sink, port):
        site.document("/one.xml", _rss(items))
        config = _config(tmp_path, site, ["one"], port, database_url, max_stories=2)
        first = run_edition(config, now=DAY1)
        second = run_edition(config, now=DAY2)  # the next morning: the items are 25 h old
    assert first.stories == 5 and second.exit_code == 0
    day1, day2 = (_headlines(m.message) for m in sink.messages)
    assert len(day1) == 2 and len(day2) == 2
    assert not set(day1) & set(day2)  # the next two, not the same again


def test_a_story_that_grows_after_its_first_articles_left_the_window_is_told_as_updated(
    tmp_path: Path, database_url: str
) -> None:
    title, body = TOPICS[0]
    early = _item("one.example", "a", title, body, DAY1 - timedelta(hours=3))
    later = _item("two.example", "b", title, body + " وقال الوزير", DAY1 - timedelta(hours=1))
    latest = _item("three.example", "c", title, body + " وأضاف المدير", DAY2 + timedelta(hours=20))
    with FeedServer() as site, smtp_sink() as (sink, port):
        site.document("/one.xml", _rss([early]))
        site.document("/two.xml", _rss([later]))
        site.document("/three.xml", _rss([]))
        config = _config(tmp_path, site, ["one", "two", "three"], port, database_url)
        run_edition(config, now=DAY1)
        # Two days on, the story's first article is older than the clustering window (48 h);
        # a third source reports it: the story grew, from two articles to three.
        site.document("/three.xml", _rss([latest]))
        report = run_edition(config, now=DAY2 + timedelta(hours=22))
    assert report.stories == 1, report.lines()
    told = body_text(sink.messages[-1].message, "plain")
    assert f"■ {title} [" in told  # marked updated


def test_an_item_fetched_after_a_feed_was_down_is_still_told(
    tmp_path: Path, database_url: str
) -> None:
    title, body = TOPICS[1]
    late = _item("two.example", "gold", title, body, DAY1 - timedelta(hours=2))
    other_title, other_body = TOPICS[2]
    with FeedServer() as site, smtp_sink() as (sink, port):
        site.document("/one.xml", _rss([_item("one.example", "x", other_title, other_body, DAY1)]))
        site.status("/two.xml", 503)  # down this morning
        config = _config(tmp_path, site, ["one", "two"], port, database_url)
        run_edition(config, now=DAY1)
        # Back the next morning, with the item published before yesterday's edition: older
        # than the edition's 24 hours, but no reader has seen it.
        site.document("/two.xml", _rss([late]))
        report = run_edition(config, now=DAY2 + timedelta(hours=1))
    assert report.stories == 1, report.lines()
    assert _headlines(sink.messages[-1].message) == [title]


def test_a_morning_without_stories_sends_nothing_and_a_later_run_sends_the_edition(
    tmp_path: Path, database_url: str
) -> None:
    title, body = TOPICS[3]
    with FeedServer() as site, smtp_sink() as (sink, port):
        site.status("/one.xml", 500)
        config = _config(tmp_path, site, ["one"], port, database_url)
        broken = run_edition(config, now=DAY1)
        assert broken.exit_code == 3 and sink.messages == []
        assert "nothing sent: the edition has no stories" in broken.lines()
        site.document("/one.xml", _rss([_item("one.example", "sat", title, body, DAY1)]))
        fixed = run_edition(config, now=DAY1 + timedelta(minutes=30))
    assert fixed.exit_code == 0 and len(fixed.delivery.sent) == 1
    assert _headlines(sink.messages[0].message) == [title]


def test_send_delivers_the_edition_as_it_was_built_and_marks_it_told(
    tmp_path: Path, database_url: str
) -> None:
    title, body = TOPICS[4]
    first = _item("one.example", "book", title, body, DAY1 - timedelta(hours=1))
    more = _item("two.example", "book2", title, body + " في يومه الثاني", DAY2 - timedelta(hours=1))
    with FeedServer() as site, smtp_sink() as (sink, port):
        site.document("/one.xml", _rss([first]))
        site.document("/two.xml", _rss([]))
        config = _config(tmp_path, site, ["one", "two"], port, database_url)
        run_edition(config, now=DAY1)
        # The next day the story grows; the edition is built, then sent by `briefing send`.
        site.document("/two.xml", _rss([more]))
        built = run_edition(config, now=DAY2, send=False)
        argv = ["--log-level", "WARNING", "send", "--config", str(config.path)]
        code = main([*argv, "--edition", "2026-11-29"])
        tomorrow = run_edition(config, now=DAY2 + timedelta(days=1))
    assert built.stories == 1 and code == 0 and len(sink.messages) == 2
    sent = body_text(sink.messages[1].message, "plain")
    assert f"■ {title} [" in sent  # marked updated, as built
    assert tomorrow.stories == 0  # told by `send`: not carried again with nothing new


def test_a_story_keeps_its_size_and_stays_fresh_as_it_grows(
    tmp_path: Path, database_url: str
) -> None:
    """The story row counts all its articles and is touched whenever one joins, so that
    retention never prunes a story that is still running."""
    title, body = TOPICS[0]
    with FeedServer() as site, smtp_sink() as (_, port):
        feeds = [f"f{n}" for n in range(4)]
        for name in feeds:
            site.document(f"/{name}.xml", _rss([]))
        config = _config(tmp_path, site, feeds, port, database_url)
        for day, name in enumerate(feeds):
            now = DAY1 + timedelta(hours=12 * day)
            item = _item(f"{name}.example", "s", title, body + f" {name}", now - timedelta(hours=1))
            site.document(f"/{name}.xml", _rss([item]))
            run_edition(config, now=now, send=False)
    store = Store(config.database_url)
    try:
        rows = (
            store.engine.connect()
            .exec_driver_sql("SELECT article_count, updated_at FROM stories")
            .all()
        )
    finally:
        store.close()
    assert len(rows) == 1
    count, updated_at = rows[0]
    assert count == 4
    assert datetime.fromisoformat(str(updated_at)).replace(tzinfo=UTC) == DAY1 + timedelta(hours=36)


def test_an_updated_story_is_told_from_what_is_new_since_its_readers_had_it(
    tmp_path: Path, database_url: str
) -> None:
    # Day 1: two sites report a crack in a dam. Overnight a third reports the repairs, with
    # the crack as background. Day 2 tells the story again, updated: its headline, key
    # sentences and sources are the repairs', not yesterday's news a second time.
    crack, body, repairs, news = DAM
    day1 = [
        _item("one.example", "crack", crack, body, DAY1 - timedelta(hours=3)),
        _item("two.example", "crack", crack, body + " وقال المحافظ", DAY1 - timedelta(hours=2)),
    ]
    later = _item("three.example", "repairs", repairs, f"{news} {body}", DAY2 - timedelta(hours=2))
    with FeedServer() as site, smtp_sink() as (sink, port):
        site.document("/one.xml", _rss(day1[:1]))
        site.document("/two.xml", _rss(day1[1:]))
        site.document("/three.xml", _rss([]))
        config = _config(tmp_path, site, ["one", "two", "three"], port, database_url)
        run_edition(config, now=DAY1)
        site.document("/three.xml", _rss([later]))
        run_edition(config, now=DAY2)
        # A re-run of the morning's edition (a preview here) tells the update the same way.
        store = Store(config.database_url)
        try:
            again, _ = build_edition(config, store, DAY2, remember_stories=False)
        finally:
            store.close()
    first, second = (body_text(m.message, "plain").replace("\r\n", "\n") for m in sink.messages)
    assert f"■ {crack}\n" in first and "one (" in first and "two (" in first
    assert f"■ {repairs} [محدّث]" in second
    told = second.split(f"■ {repairs}")[1]
    assert news in told
    assert "three (" in told and "one (" not in told and "two (" not in told
    [story] = again.stories
    assert story.story.updated and [a.url for a in story.story.articles] == [
        "https://three.example/repairs"
    ]


def test_an_update_is_ranked_by_what_it_gained_not_by_the_whole_story(
    tmp_path: Path, database_url: str
) -> None:
    # Day 1: three sites report the dam's crack. Day 2: one site reports the repairs, and two
    # sites report a fresh story. A reader who takes one story gets the fresh one: the
    # update has one new source, however many the whole story had.
    crack, body, repairs, news = DAM
    gold, gold_body = TOPICS[1]
    sites = ["one", "two", "three", "four", "five", "six"]
    with FeedServer() as site, smtp_sink() as (sink, port):
        for n, name in enumerate(sites[:3]):
            crack_item = _item(f"{name}.example", "crack", crack, body, DAY1 - timedelta(hours=3))
            site.document(f"/{name}.xml", _rss([{**crack_item, "body": f"{body} ({n})"}]))
        for name in sites[3:]:
            site.document(f"/{name}.xml", _rss([]))
        config = _config(tmp_path, site, sites, port, database_url, max_stories=1)
        run_edition(config, now=DAY1)
        update = _item(
            "four.example", "repairs", repairs, f"{news} {body}", DAY2 - timedelta(hours=1)
        )
        site.document("/four.xml", _rss([update]))
        for name in sites[4:]:
            fresh = _item(f"{name}.example", "gold", gold, gold_body, DAY2 - timedelta(hours=1))
            site.document(f"/{name}.xml", _rss([fresh]))
        second = run_edition(config, now=DAY2)
    assert second.stories == 2  # both made the edition; the reader's one is the fresh one
    assert [_headlines(m.message) for m in sink.messages] == [[crack], [gold]]
