from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from briefing.cli import main
from briefing.config import load_config
from briefing.schedule import Service


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


def test_json_logs_end_with_one_summary_line(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--log-format", "json", "run", "--config", str(demo_dir / "briefing.yaml")]) == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [summary] = [r for r in records if r["message"] == "run finished"]
    assert summary["feeds_ok"] == 5 and summary["feeds_failed"] == 0
    assert summary["stories"] == 5 and summary["digests_sent"] == 3
    assert set(summary["seconds"]) >= {"ingest", "cluster", "summarize", "render", "deliver"}
