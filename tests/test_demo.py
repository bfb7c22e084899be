"""The embedded demo, end to end, as `make demo` runs it."""

from __future__ import annotations

import email
import email.policy
import sqlite3
from pathlib import Path

import pytest

from briefing.cli import main
from tests.mail import body_text


def _run(config: Path) -> int:
    return main(["run", "--config", str(config / "briefing.yaml")])


def _outbox(tmp: Path) -> Path:
    [edition] = (tmp / "var" / "demo" / "outbox").iterdir()
    return edition


def _messages(folder: Path) -> dict[str, email.message.EmailMessage]:
    return {
        p.name: email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(folder.glob("*.eml"))
    }


def test_demo_writes_parseable_multipart_arabic_messages(demo_dir: Path) -> None:
    assert _run(demo_dir) == 0
    folder = _outbox(demo_dir.parent)
    messages = _messages(folder)
    assert set(messages) == {
        "reader@example.org.eml",
        "economy@example.org.eml",
        "text-only@example.org.eml",
    }
    full = messages["reader@example.org.eml"]
    assert full.get_content_type() == "multipart/alternative"
    assert full["Subject"].startswith("موجز الصباح")
    html = body_text(full, "html")
    text = body_text(full, "plain")
    assert '<html lang="ar" dir="rtl">' in html
    # Three stories are carried by several feeds: clustering and multi-source summaries show.
    assert text.count("3 مصادر") == 1 and text.count("مصدران") == 2  # dual form
    assert "اقرأ أيضا" not in text  # the cleaner removed the related-link line
    assert messages["text-only@example.org.eml"].get_content_type() == "text/plain"
    economy = body_text(messages["economy@example.org.eml"], "plain")
    assert "الفائدة" in economy and "نهائي كأس" not in economy  # sections respected
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert index.startswith("<!DOCTYPE html>") and "reader@example.org" in index


def test_running_twice_stores_nothing_twice_and_writes_the_same_digests(demo_dir: Path) -> None:
    assert _run(demo_dir) == 0
    folder = _outbox(demo_dir.parent)
    first = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.html")}
    database = demo_dir.parent / "var" / "demo" / "briefing.db"
    count = sqlite3.connect(database).execute("select count(*) from articles").fetchone()[0]
    assert _run(demo_dir) == 0
    again = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.html")}
    assert again == first
    assert sqlite3.connect(database).execute("select count(*) from articles").fetchone()[0] == count


def test_unreadable_and_empty_feeds_each_give_one_line_and_the_rest_goes_on(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (demo_dir / "feeds" / "waha-tv.xml").unlink()
    (demo_dir / "feeds" / "sahel-culture.atom").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    )
    assert _run(demo_dir) == 1  # partial success
    out = capsys.readouterr().out
    assert "feeds read: 3 ok, 2 failed" in out
    failures = [line for line in out.splitlines() if line.startswith("  feed ")]
    assert len(failures) == 2
    assert any("قناة الواحة" in line and "cannot read" in line for line in failures)
    assert any("الساحل الثقافي" in line and "has no items" in line for line in failures)
    messages = _messages(_outbox(demo_dir.parent))
    assert len(messages) == 3  # every subscriber still got the edition


def test_a_feeds_warning_is_printed_after_fetch_and_run_and_the_feed_still_counts(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wire = demo_dir / "feeds" / "nakheel-wire.xml"
    wire.write_text(
        wire.read_text("utf-8").replace("Sat, 28 Nov 2026 05:10:00", "Sat, 28 Nov 2099 05:10:00"),
        "utf-8",
    )
    assert main(["fetch", "--config", str(demo_dir / "briefing.yaml")]) == 0
    out = capsys.readouterr().out
    assert "feeds read: 5 ok, 0 failed" in out
    [line] = [line for line in out.splitlines() if line.startswith("  feed ")]
    assert line.startswith("  feed وكالة النخيل: warning: 1 item(s) dated in the future")
    assert line.endswith("if the feed writes its local time as GMT, set its timezone in feeds.yaml")
    wire.write_text(wire.read_text("utf-8") + "\n", "utf-8")  # changed: read again, not a 304
    assert _run(demo_dir) == 0
    assert line in capsys.readouterr().out.splitlines()


def test_fetch_stores_articles_without_building_an_edition(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fetch", "--config", str(demo_dir / "briefing.yaml")]) == 0
    assert "articles new: 9" in capsys.readouterr().out
    assert not (demo_dir.parent / "var" / "demo" / "outbox").exists()
    assert _run(demo_dir) == 0  # the edition then finds the articles already stored
    assert "articles new: 0" in capsys.readouterr().out
