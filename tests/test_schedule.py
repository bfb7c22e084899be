from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from briefing.cli import main
from briefing.config import load_config
from briefing.pipeline import run_edition
from briefing.schedule import Service
from briefing.store import Store


def test_a_bad_edit_is_logged_and_the_last_good_configuration_kept(
    demo_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = demo_dir / "briefing.yaml"
    service = Service(path, load_config(path))
    path.write_text(path.read_text(encoding="utf-8") + "max_stories: lots\n", encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        kept = service.reload()
    assert kept is service.config
    assert any(
        "configuration not reloaded" in r.getMessage() and ":" in r.getMessage()
        for r in caplog.records
    )


def test_a_good_edit_reschedules_the_jobs(demo_dir: Path) -> None:
    path = demo_dir / "briefing.yaml"
    service = Service(path, load_config(path))
    service._schedule(service.config.settings.schedule, service.config)
    service.scheduler.start(paused=True)  # jobs are scheduled, none runs
    text = path.read_text(encoding="utf-8") + "schedule:\n  edition_at: '07:15'\n"
    path.write_text(text, encoding="utf-8")
    fresh = service.reload()
    assert fresh.settings.schedule.edition_at.hour == 7
    trigger = str(service.scheduler.get_job("edition").trigger)
    service.scheduler.shutdown(wait=False)
    assert "hour='7'" in trigger and "minute='15'" in trigger


def test_a_restart_within_the_grace_sends_todays_edition_to_whoever_has_not_had_it(
    demo_dir: Path,
) -> None:
    path = demo_dir / "briefing.yaml"
    # With an SMTP server (none listens: nothing is sent here), deliveries are recorded.
    path.write_text(
        path.read_text(encoding="utf-8") + "smtp:\n  host: 127.0.0.1\n  port: 1\n", "utf-8"
    )
    config = load_config(path)
    schedule = config.settings.schedule
    today = datetime(2026, 11, 29, tzinfo=config.zone)
    due = datetime.combine(today.date(), schedule.edition_at, tzinfo=config.zone)
    service = Service(path, config)
    assert service._edition_missed(schedule, config, due + timedelta(minutes=5))  # not built
    assert not service._edition_missed(schedule, config, due - timedelta(minutes=5))  # not due
    store = Store(config.database_url)
    try:
        store.save_edition("2026-11-29", [], due)
        readers = [s.email for s in config.subscribers]
        for reader in readers:
            assert store.reserve_delivery("2026-11-29", reader, "<m>", stale_after=timedelta(1))
        for reader in readers[:-1]:
            store.complete_delivery("2026-11-29", reader)
        # Built, then the run died while sending to the last reader.
        assert service._edition_missed(schedule, config, due + timedelta(minutes=5))
        store.complete_delivery("2026-11-29", readers[-1], error="550 no such user", permanent=True)
        assert not service._edition_missed(schedule, config, due + timedelta(minutes=5))
    finally:
        store.close()


def test_a_restart_after_the_digests_went_out_builds_nothing_again(demo_dir: Path) -> None:
    path = demo_dir / "briefing.yaml"
    config = load_config(path)
    schedule = config.settings.schedule
    due = datetime.combine(date(2026, 11, 29), schedule.edition_at, tzinfo=config.zone)
    service = Service(path, config)
    assert main(["unsubscribe", "reader@example.org", "--config", str(path)]) == 0
    run_edition(config, now=due)  # to the outbox: no delivery rows, and none for the reader
    assert not service._edition_missed(schedule, config, due + timedelta(minutes=5))
    (config.outbox_dir / "2026-11-29" / "economy@example.org.eml").unlink()
    assert service._edition_missed(schedule, config, due + timedelta(minutes=5))


def test_json_logs_end_with_one_summary_line(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--log-format", "json", "run", "--config", str(demo_dir / "briefing.yaml")]) == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [summary] = [r for r in records if r["message"] == "run finished"]
    assert summary["feeds_ok"] == 5 and summary["feeds_failed"] == 0
    assert summary["stories"] == 5 and summary["digests_sent"] == 3
    assert set(summary["seconds"]) >= {"ingest", "cluster", "summarize", "render", "deliver"}
