"""`briefing health` on the demo: a real SQLite store, the demo feeds, the outbox or a real
aiosmtpd server. The clock is passed in, so each check meets the edition time it is about."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from aiosmtpd.controller import Controller

from briefing.cli import main
from briefing.config import load_config
from briefing.health import check_health
from briefing.pipeline import run_edition
from briefing.store import Store
from tests.servers import Mailbox, free_port
from tests.test_deliver_cli import use_smtp

RIYADH = ZoneInfo("Asia/Riyadh")  # the demo's zone; its edition is due at 06:30 (+60 min grace)
MORNING_RUN = datetime(2026, 11, 29, 6, 30, tzinfo=RIYADH)


def _lines(config_dir: Path, now: datetime, hours: float = 26) -> list[str]:
    report = check_health(load_config(config_dir / "briefing.yaml"), now, timedelta(hours=hours))
    return report.lines()


def _edition_line(config_dir: Path) -> str:
    """The edition check, two hours after the morning run: past its time and grace."""
    return _lines(config_dir, MORNING_RUN + timedelta(hours=2))[2]


def _edit(config_dir: Path, **settings: object) -> None:
    path = config_dir / "briefing.yaml"
    values = yaml.safe_load(path.read_text(encoding="utf-8")) | settings
    path.write_text(yaml.safe_dump(values, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_a_new_install_is_told_what_has_not_happened_yet(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["health", "--config", str(demo_dir / "briefing.yaml")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok: database answers"
    assert out[1] == "problem: feeds: none of 5 has ever been read"
    assert out[2].startswith("problem: edition ") and out[2].endswith(": not built")
    assert "(due 06:30 Asia/Riyadh, 60 min grace)" in out[2]


def test_the_morning_run_is_healthy_until_the_next_edition_is_due(demo_dir: Path) -> None:
    config = load_config(demo_dir / "briefing.yaml")
    assert run_edition(config, now=MORNING_RUN).exit_code == 0  # digests to the outbox
    # Before today's grace has passed, the edition due is yesterday's: never built.
    assert _lines(demo_dir, MORNING_RUN + timedelta(minutes=59))[2] == (
        "problem: edition 2026-11-28 (due 06:30 Asia/Riyadh, 60 min grace): not built"
    )
    later = _lines(demo_dir, MORNING_RUN + timedelta(hours=3))
    assert later == [
        "ok: database answers",
        "ok: feeds: 5 of 5 read within 26 h, the latest 3 h ago",
        "ok: edition 2026-11-29 (due 06:30 Asia/Riyadh, 60 min grace): "
        "sent to every reader it was owed (3 subscribers)",
    ]
    next_morning = MORNING_RUN + timedelta(days=1, hours=1, minutes=1)
    assert _lines(demo_dir, next_morning)[2] == (
        "problem: edition 2026-11-30 (due 06:30 Asia/Riyadh, 60 min grace): not built"
    )
    # Nobody has read a feed for a day and a half: the service is not running.
    stale = _lines(demo_dir, MORNING_RUN + timedelta(hours=36))[1]
    assert stale == (
        "problem: feeds: 0 of 5 read within 26 h, the latest 36 h ago: is the service running?"
    )
    assert _lines(demo_dir, MORNING_RUN + timedelta(hours=36), hours=48)[1].startswith("ok: ")


def test_a_digest_missing_from_the_outbox_is_owed(demo_dir: Path) -> None:
    config = load_config(demo_dir / "briefing.yaml")
    run_edition(config, now=MORNING_RUN)
    (config.outbox_dir / "2026-11-29" / "economy@example.org.eml").unlink()
    assert _edition_line(demo_dir).endswith("not sent to 1 of 3: economy@example.org (not tried)")


def test_readers_still_owed_the_edition_are_named_and_no_one_else(
    demo_dir: Path, smtp_server: tuple[Controller, Mailbox]
) -> None:
    controller, mailbox = smtp_server
    use_smtp(demo_dir, controller.port, retries=0)
    mailbox.refuse = {"economy@example.org"}  # 5xx: dealt with, `briefing subscribers` shows it
    mailbox.on_data = lambda _server, who: "451 4.3.0 try later" if who.startswith("text") else None
    config = demo_dir / "briefing.yaml"
    assert main(["unsubscribe", "reader@example.org", "--config", str(config)]) == 0
    run_edition(load_config(config), now=MORNING_RUN)
    assert _edition_line(demo_dir).endswith(
        ": not sent to 1 of 3: text-only@example.org (failed for now, to be retried)"
    )
    mailbox.on_data = None
    assert main(["send", "--config", str(config), "--edition", "2026-11-29"]) == 0
    assert _edition_line(demo_dir).endswith("sent to every reader it was owed (3 subscribers)")


def test_a_mailbox_held_back_after_three_refusals_is_not_owed(
    demo_dir: Path, smtp_server: tuple[Controller, Mailbox]
) -> None:
    controller, mailbox = smtp_server
    use_smtp(demo_dir, controller.port)
    config = load_config(demo_dir / "briefing.yaml")
    store = Store(config.database_url)
    for edition in ("2026-11-26", "2026-11-27", "2026-11-28"):  # refused three mornings
        store.reserve_delivery(edition, "economy@example.org", "<x>", stale_after=timedelta(0))
        store.complete_delivery(
            edition, "economy@example.org", error="550 no such mailbox", permanent=True
        )
    store.close()
    run_edition(config, now=MORNING_RUN)
    assert mailbox.rcpt["economy@example.org"] == 0  # held back: not written to at all
    assert _edition_line(demo_dir).endswith("sent to every reader it was owed (3 subscribers)")


def test_an_edition_without_stories_sent_nothing(demo_dir: Path) -> None:
    for feed in (demo_dir / "feeds").iterdir():
        feed.write_text("not a feed", encoding="utf-8")
    run_edition(load_config(demo_dir / "briefing.yaml"), now=MORNING_RUN)
    lines = _lines(demo_dir, MORNING_RUN + timedelta(hours=2))
    assert (
        lines[1]
        == "problem: feeds: none of 5 has ever been read; 5 failing now (see briefing feeds)"
    )
    assert lines[2].endswith(": built without stories, so nothing was sent")


def test_a_database_that_does_not_answer_is_the_one_problem_reported(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(demo_dir, database=f"postgresql+psycopg://briefing:secret@127.0.0.1:{free_port()}/x")
    assert main(["health", "--config", str(demo_dir / "briefing.yaml")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("problem: database: ") and out.count("\n") == 1
    assert "secret" not in out


def test_hours_must_be_above_zero(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["health", "--config", str(demo_dir / "briefing.yaml"), "--feeds-within", "0"])
    assert exit_.value.code == 2
    assert "give a number of hours above 0" in capsys.readouterr().err
