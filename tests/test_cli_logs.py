"""What operators read on stderr: with --log-format json every line is a JSON record (errors
and tracebacks included), and run, send and fetch end with one summary line in both formats."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from briefing.cli import main
from briefing.config import load_config
from briefing.store import Store


def _records(err: str) -> list[dict[str, Any]]:
    """Every stderr line, parsed: fails on any line that is not JSON."""
    return [json.loads(line) for line in err.splitlines()]


def test_json_mode_config_errors_are_records_and_the_run_ends_with_its_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "briefing.yaml").write_text("max_stories: many\ncolour: blue\n", "utf-8")
    (tmp_path / "feeds.yaml").write_text("feeds: []\n", "utf-8")
    (tmp_path / "subscribers.yaml").write_text("subscribers: []\n", "utf-8")
    args = ["--log-format", "json", "run", "--config", str(tmp_path / "briefing.yaml")]
    assert main(args) == 2
    records = _records(capsys.readouterr().err)
    problems = [r["problem"] for r in records if r["message"].startswith("config error: ")]
    assert len(problems) == 3
    assert f"{tmp_path}/briefing.yaml:2: colour: unknown key" in problems[1]
    assert all(r["level"] == "error" for r in records)
    assert records[-1]["message"] == "run failed"
    assert records[-1]["exit_code"] == 2 and records[-1]["summary"] is True
    assert records[-1]["error"] == "configuration error (3 found)"


def test_json_mode_lock_error_is_a_record(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = demo_dir / "briefing.yaml"
    store = Store(load_config(config).database_url)
    try:
        with store.lock("edition", ttl=timedelta(hours=2)):
            assert main(["--log-format", "json", "run", "--config", str(config)]) == 4
    finally:
        store.close()
    records = _records(capsys.readouterr().err)
    assert "another run" in str(records[0]["message"])
    assert records[-1]["message"] == "run failed" and records[-1]["exit_code"] == 4


def test_json_mode_puts_a_traceback_inside_its_record(
    demo_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("briefing.pipeline.run_edition", broken)  # the fault injected
    args = ["--log-format", "json", "run", "--config", str(demo_dir / "briefing.yaml")]
    assert main(args) == 1
    records = _records(capsys.readouterr().err)
    [crash] = [r for r in records if "exception" in r]
    assert crash["message"] == "unexpected error in briefing run: a bug"
    assert str(crash["exception"]).startswith("Traceback (most recent call last):")
    assert "RuntimeError: a bug" in str(crash["exception"])
    assert records[-1]["message"] == "run failed" and records[-1]["exit_code"] == 1


def test_text_mode_summary_line_shows_the_counts(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(demo_dir / "briefing.yaml")
    assert main(["run", "--config", config]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1:4] == ["feeds read: 5 ok, 0 failed", "articles new: 9", "stories: 5"]
    last = err.splitlines()[-1]
    assert " INFO    briefing: run finished: edition=" in last
    for field in (
        "feeds_ok=5 feeds_failed=0 articles_new=9 stories=5 summaries=extractive:5",
        "digests_sent=3 digests_failed=0 digests_unsubscribed=0 seconds=ingest:",
        "exit_code=0",
    ):
        assert field in last, last
    for stage in ("cluster:", "summarize:", "render:", "deliver:"):
        assert stage in last

    assert main(["send", "--config", config]) == 0
    out, err = capsys.readouterr()
    assert "digests written: 3" in out
    last = err.splitlines()[-1]
    assert "send finished: edition=" in last and "digests_sent=3" in last
    assert last.endswith("exit_code=0")

    assert main(["fetch", "--config", config]) == 0
    last = capsys.readouterr().err.splitlines()[-1]
    assert "fetch finished: feeds_ok=5 feeds_failed=0 articles_new=0 exit_code=0" in last


def test_a_failed_send_ends_with_its_summary_line(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["send", "--config", str(demo_dir / "briefing.yaml")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("briefing: no edition has been built yet")  # the plain message
    assert " ERROR   briefing: send failed: error='no edition has been built yet" in err[-1]
    assert err[-1].endswith("exit_code=1")
