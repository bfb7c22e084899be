"""A whole edition from real Arabic feeds (ANT corpus) over HTTP to a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from briefing.config import load_config
from briefing.ingest.parse import canonical_url
from briefing.pipeline import run_edition
from tests.ant_feeds import EVAL_WINDOW, SECTION_TITLES, build_documents, feeds_yaml, load_items
from tests.feed_server import FeedServer
from tests.mail import body_text
from tests.servers import smtp_sink
from tests.shared_data import SHARED_DATA, requires_shared_data

pytestmark = [requires_shared_data, pytest.mark.shared_data]

SUBSCRIBERS = """subscribers:
  - email: sport@example.org
    sections: [sport]
  - email: money@example.org
    sections: [economy, technology]
    max_stories: 8
  - email: all@example.org
    max_stories: 40
"""


def _write_config(folder: Path, feeds: str, smtp_port: int) -> Path:
    sections = "".join(f"  {k}: {v}\n" for k, v in SECTION_TITLES.items())
    (folder / "briefing.yaml").write_text(
        "timezone: Asia/Riyadh\n"
        f"database: {folder / 'briefing.db'}\n"
        f"outbox: {folder / 'outbox'}\n"
        f"sections:\n{sections}"
        "smtp:\n"
        "  host: 127.0.0.1\n"
        f"  port: {smtp_port}\n"
        "  security: none\n",
        encoding="utf-8",
    )
    (folder / "feeds.yaml").write_text(feeds, encoding="utf-8")
    (folder / "subscribers.yaml").write_text(SUBSCRIBERS, encoding="utf-8")
    return folder / "briefing.yaml"


def test_real_feeds_to_three_subscribers_each_story_once_sections_respected(
    tmp_path: Path,
) -> None:
    assert SHARED_DATA is not None
    items = load_items(EVAL_WINDOW, days=["20180603"])
    with FeedServer() as site, smtp_sink() as (sink, port):
        site.documents(build_documents(items))
        config = load_config(_write_config(tmp_path, feeds_yaml(site.url(""), items), port))
        report = run_edition(config, now=datetime(2018, 6, 3, 21, 0, tzinfo=UTC))
        second = run_edition(config, now=datetime(2018, 6, 3, 21, 5, tzinfo=UTC))

    assert report.exit_code == 0, report.lines()
    assert report.ingest.feeds_failed == 0
    # Items listed in two site sections share one URL: stored once.
    assert report.ingest.new_articles == len({canonical_url(i["url"]) for i in items})
    assert report.stories > 50
    by_recipient = {m.recipients[0]: m.message for m in sink.messages}
    assert len(sink.messages) == 3 == len(by_recipient)  # and the re-run sent nothing
    assert set(second.delivery.skipped) == set(by_recipient)

    for address, message in by_recipient.items():
        text = body_text(message, "plain")
        headlines = [line[2:] for line in text.splitlines() if line.startswith("■ ")]
        assert headlines, address
        assert len(headlines) == len(set(headlines)), f"a story twice for {address}"
    sport = body_text(by_recipient["sport@example.org"], "plain")
    money = body_text(by_recipient["money@example.org"], "plain")
    assert "== رياضة ==" in sport and "== اقتصاد ==" not in sport and "== العالم ==" not in sport
    assert "== رياضة ==" not in money and "== اقتصاد ==" in money
    assert sum(line.startswith("■ ") for line in money.splitlines()) <= 8
