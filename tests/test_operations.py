"""Running it for real: `serve` under a scheduler, two `run`s at once, exit codes, logs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from tests.conftest import DEMO
from tests.feed_server import FeedServer
from tests.servers import free_port, smtp_sink

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp: Path, feeds_url: str, smtp_port: int, **settings: object) -> Path:
    """The demo configuration, its feeds served over HTTP, delivery to a local SMTP server."""
    folder = tmp / "config"
    shutil.copytree(DEMO, folder)
    main = yaml.safe_load((folder / "briefing.yaml").read_text(encoding="utf-8"))
    main.update(database=str(tmp / "briefing.db"), outbox=str(tmp / "outbox"), **settings)
    main["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "security": "none"}
    main["ingest"] = {"allow_file_urls": False, "timeout_seconds": 10}
    (folder / "briefing.yaml").write_text(yaml.safe_dump(main, allow_unicode=True), "utf-8")
    feeds = yaml.safe_load((folder / "feeds.yaml").read_text(encoding="utf-8"))
    for feed in feeds["feeds"]:
        feed["url"] = feeds_url + "/" + feed["url"].removeprefix("file:feeds/")
    (folder / "feeds.yaml").write_text(yaml.safe_dump(feeds, allow_unicode=True), "utf-8")
    return folder / "briefing.yaml"


def _demo_documents() -> dict[str, bytes]:
    return {f"/{p.name}": p.read_bytes() for p in (DEMO / "feeds").glob("*.*") if p.suffix != ".md"}


def _briefing(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "briefing", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_runs_at_once_one_builds_the_other_exits_with_the_lock_message(tmp_path: Path) -> None:
    # Slow feeds keep the first run busy (and holding the lock) while the second starts.
    with FeedServer() as site, smtp_sink() as (sink, port):
        site.documents(_demo_documents(), delay=1.5)
        config = _config(tmp_path, site.url(""), port)
        runs = [_briefing("run", "--config", str(config), cwd=tmp_path) for _ in range(2)]
        results = [(p.wait(timeout=120), *p.communicate()) for p in runs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 4], results
    [(_, _, locked_err)] = [r for r in results if r[0] == 4]
    assert "another run" in locked_err and "building the edition" in locked_err
    recipients = [m.recipients[0] for m in sink.messages]
    assert sorted(recipients) == sorted(set(recipients))  # nobody got two emails
    assert len(recipients) == 3


def test_serve_polls_builds_the_edition_once_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    zone = ZoneInfo("Asia/Riyadh")
    # Due in 3 s: on a slow machine the service may start later than that; it then catches
    # up on the missed edition at start (within the misfire grace), which is tested too.
    edition_at = (datetime.now(zone) + timedelta(seconds=3)).time().replace(microsecond=0)
    with FeedServer() as site, smtp_sink() as (sink, port):
        site.documents(_demo_documents())
        schedule = {"poll_every_minutes": 0.04, "edition_at": edition_at.isoformat()}
        config = _config(tmp_path, site.url(""), port, schedule=schedule)
        process = _briefing("--log-format", "json", "serve", "--config", str(config), cwd=tmp_path)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (len(sink.messages) < 3 or len(site.requests) < 15):
            time.sleep(0.5)
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        _, err = process.communicate()
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    polls = [r for r in logs if r["message"].startswith("poll finished")]
    editions = [r for r in logs if r["message"].startswith("edition ")]
    assert code == 0, err[-2000:]
    assert len(polls) >= 2, err[-2000:]
    assert len(editions) == 1
    assert len(sink.messages) == 3  # each subscriber once
    assert any(r["message"] == "stopped" for r in logs)
    # Polls after the first were conditional: the unchanged feeds answered 304.
    assert any("if-none-match" in request.headers for request in site.requests)


def test_run_exit_code_3_when_nothing_could_be_sent(tmp_path: Path) -> None:
    with FeedServer() as site:
        site.documents(_demo_documents())
        config = _config(tmp_path, site.url(""), free_port())  # no SMTP server listens there
        process = _briefing("run", "--config", str(config), cwd=tmp_path)
        code = process.wait(timeout=120)
        out, err = process.communicate()
    assert code == 3, err
    assert "feeds read: 5 ok, 0 failed" in out
    assert out.count("  recipient ") == 3


def test_stories_are_told_once_but_not_lost_on_a_morning_nothing_was_sent(tmp_path: Path) -> None:
    from briefing.config import load_config
    from briefing.pipeline import run_edition

    day_one = datetime(2026, 11, 29, 3, 30, tzinfo=ZoneInfo("UTC"))
    day_two, day_three = day_one + timedelta(days=1), day_one + timedelta(days=2)
    dead_port = free_port()  # no SMTP server listens there on day one
    with FeedServer() as site:
        site.documents(_demo_documents())
        path = _config(tmp_path, site.url(""), dead_port)
        assert run_edition(load_config(path), now=day_one).exit_code == 3
        with smtp_sink() as (sink, port):
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace(f"port: {dead_port}", f"port: {port}"), "utf-8")
            carried = run_edition(load_config(path), now=day_two)
            sent_on_day_two = len(sink.messages)
            told = run_edition(load_config(path), now=day_three)
    assert carried.stories == 5 and sent_on_day_two == 3  # nothing was lost on day one
    assert told.stories == 0  # told on day two, nothing new since: not repeated
