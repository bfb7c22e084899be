"""Feed health across runs and `briefing feeds`, against a real local server and SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from briefing.cli import main
from briefing.errors import EXIT_OK, EXIT_PARTIAL
from briefing.ingest import ingest
from briefing.store import Store
from tests.feed_server import FeedServer, write_config

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
COLUMNS = ("name", "last success", "new items last run", "consecutive failures", "last error")


def _rss(*titles: str) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>http://example.org/{i}</link>"
        f"<description>{title}، قال مسؤولون في الوزارة اليوم.</description>"
        "<pubDate>Sun, 29 Nov 2026 02:10:00 +0000</pubDate></item>"
        for i, title in enumerate(titles)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>http://example.org/</link>{items}</channel></rss>"
    ).encode()


def _rss_ahead() -> bytes:
    """One item dated 08:00 GMT, five hours after NOW."""
    document = _rss("وزير الداخلية يزور المنطقة").replace(b"02:10:00", b"08:00:00")
    return document.replace(b"example.org/0", b"example.org/ahead")


def _table(output: str) -> dict[str, dict[str, str]]:
    """`briefing feeds` output as {feed name: {column: cell}}, cut at the header's columns."""
    header, *lines = output.splitlines()
    starts = [header.index(column) for column in COLUMNS]
    assert starts == sorted(starts), header  # every column there, in order
    ends = [*starts[1:], None]
    rows = {}
    for line in lines:
        cells = [line[a:b].strip() for a, b in zip(starts, ends, strict=True)]
        rows[cells[0]] = dict(zip(COLUMNS, cells, strict=True))
    return rows


def test_failures_climb_reset_after_a_success_and_last_success_survives(tmp_path: Path) -> None:
    with FeedServer() as server:
        url = server.document("/f.xml", _rss("افتتاح محطة تحلية جديدة"))
        config = write_config(tmp_path, [{"name": "f", "url": url, "section": "news"}])
        store = Store(config.database_url)
        ingest(config, store, NOW)
        first = store.feed_state("f") or {}
        assert first["consecutive_failures"] == 0 and first["last_success"] == NOW

        server.status("/f.xml", 500)
        for run, later in enumerate((NOW + timedelta(hours=1), NOW + timedelta(hours=2)), 1):
            ingest(config, store, later)
            state = store.feed_state("f") or {}
            assert state["consecutive_failures"] == run
            assert state["last_error"] == "HTTP 500 Internal Server Error"
            assert state["last_success"] == NOW  # a failure never moves the last success
            assert state["last_attempt"] == later

        server.document("/f.xml", _rss("افتتاح محطة تحلية جديدة", "البنك المركزي يخفض الفائدة"))
        back = NOW + timedelta(hours=3)
        ingest(config, store, back)
        state = store.feed_state("f") or {}
        assert state["consecutive_failures"] == 0 and state["last_error"] is None
        assert state["last_success"] == back and state["new_items_last_run"] == 1
        store.close()


def test_the_feeds_command_shows_health_and_exits_1_while_a_feed_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as server:
        good = server.document("/good.xml", _rss("افتتاح محطة تحلية", "البنك المركزي يخفض"))
        feeds = [
            {"name": "good", "url": good, "section": "news"},
            {"name": "missing", "url": server.status("/404.xml", 404), "section": "news"},
            {"name": "gone", "url": server.status("/410.xml", 410), "section": "news"},
            # Read, but its one item is dated 5 hours after the fetch: a warning, not a failure.
            {
                "name": "ahead",
                "url": server.document("/ahead.xml", _rss_ahead()),
                "section": "news",
            },
        ]
        config = write_config(tmp_path, feeds)
        store = Store(config.database_url)
        ingest(config, store, NOW)
        store.close()
        capsys.readouterr()

        assert main(["feeds", "--config", str(tmp_path / "briefing.yaml")]) == EXIT_PARTIAL
        rows = _table(capsys.readouterr().out)
        assert set(rows) == {"good", "missing", "gone", "ahead"}
        local = NOW.astimezone(config.zone).strftime("%Y-%m-%d %H:%M")
        assert rows["good"] == {
            "name": "good",
            "last success": local,
            "new items last run": "2",
            "consecutive failures": "0",
            "last error": "",
        }
        assert rows["missing"]["last success"] == "never"
        assert rows["missing"]["consecutive failures"] == "1"
        assert rows["missing"]["last error"] == "HTTP 404 Not Found"
        gone = rows["gone"]["last error"]
        assert gone.startswith("disabled: HTTP 410 Gone on 2026-11-29")
        assert gone.endswith("change its URL in feeds.yaml to read it again")
        assert rows["ahead"]["consecutive failures"] == "0"
        assert rows["ahead"]["last error"] == (
            "warning: 1 item(s) dated in the future (up to 5.0 h ahead of the fetch): their "
            "fetch time stands in; if the feed writes its local time as GMT, set its timezone "
            "in feeds.yaml"
        )

        # The gone feed dropped, the missing one turned off by the editor: nothing to act on.
        write_config(tmp_path, [feeds[0], {**feeds[1], "enabled": False}, feeds[3]])
        assert main(["feeds", "--config", str(tmp_path / "briefing.yaml")]) == EXIT_OK
        assert set(_table(capsys.readouterr().out)) == {"good", "missing (disabled)", "ahead"}
