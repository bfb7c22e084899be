"""A full edition for the real June week: 1,239 articles from 5 sources served over local HTTP,
clustered, summarized (extractive) and sent to 100 subscribers on a local SMTP server.

Prints JSON: total seconds, seconds per stage, counts, peak memory. Target: under 60 s on 2 cores.
`--database` runs it on an empty database of a server (an SQLAlchemy URL) instead of a new
SQLite file; `--database postgresql` or `--database mariadb` starts a throwaway one with the
server's own programs (as the tests do).

    .venv/bin/python benchmarks/edition.py [--subscribers 100] [--database URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from benchmarks._common import emit, peak_rss_mb, shared_data
from briefing.config import load_config
from briefing.pipeline import run_edition
from tests.ant_feeds import EVAL_WINDOW, SECTION_TITLES, build_documents, feeds_yaml, load_items
from tests.databases import fresh_database, mariadb_server, postgres_server
from tests.feed_server import FeedServer
from tests.servers import smtp_sink


def subscribers_yaml(count: int) -> str:
    sections = list(SECTION_TITLES)
    lines = ["subscribers:"]
    for i in range(count):
        wanted = (
            [] if i % 3 == 0 else [sections[i % len(sections)], sections[(i * 7) % len(sections)]]
        )
        lines += [f"  - email: reader{i:03d}@example.org", f"    sections: {wanted}"]
        lines += [
            f"    max_stories: {10 + i % 20}",
            f"    format: {'text' if i % 10 == 9 else 'html'}",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--database", help="an SQLAlchemy URL, or postgresql / mariadb")
    args = parser.parse_args()
    shared_data()  # exits with a clear message when the data set is absent
    items = load_items(EVAL_WINDOW)
    with (
        tempfile.TemporaryDirectory() as tmp,
        FeedServer() as site,
        _database(args.database, Path(tmp)) as database,
    ):
        site.documents(build_documents(items))
        folder = Path(tmp)
        with smtp_sink() as (sink, port):
            sections = "".join(f"  {k}: {v}\n" for k, v in SECTION_TITLES.items())
            (folder / "briefing.yaml").write_text(
                f"database: '{database}'\nedition_window_hours: 168\nmax_stories: 30\n"
                f"sections:\n{sections}"
                f"smtp:\n  host: 127.0.0.1\n  port: {port}\n  security: none\n",
                encoding="utf-8",
            )
            (folder / "feeds.yaml").write_text(feeds_yaml(site.url(""), items), encoding="utf-8")
            (folder / "subscribers.yaml").write_text(subscribers_yaml(args.subscribers), "utf-8")
            config = load_config(folder / "briefing.yaml")
            start = time.perf_counter()
            report = run_edition(config, now=datetime(2018, 6, 7, 23, 59, tzinfo=UTC))
            total = time.perf_counter() - start
            received = len(sink.messages)
    emit(
        {
            "benchmark": "edition",
            "database": make_url(database).get_backend_name(),
            "articles_in_feeds": len(items),
            "feeds": len(build_documents(items)),
            "articles_stored": report.ingest.new_articles,
            "stories": report.stories,
            "subscribers": args.subscribers,
            "messages_received": received,
            "summaries": report.summaries,
            "seconds_total": round(total, 2),
            "seconds_per_stage": report.seconds,
            "target_seconds": 60,
            "meets_target": total < 60,
            "peak_rss_mb": peak_rss_mb(),
            "exit_code": report.exit_code,
        }
    )


@contextmanager
def _database(wanted: str | None, folder: Path) -> Iterator[str]:
    """The URL of the empty database to run on."""
    servers = {"postgresql": postgres_server, "mariadb": mariadb_server}
    if wanted is None:
        yield f"sqlite:///{folder / 'b.db'}"
    elif wanted in servers:
        with servers[wanted]() as server:
            if server.url is None:
                sys.exit(server.why_not)
            yield fresh_database(server)
    else:
        yield wanted


if __name__ == "__main__":
    main()
