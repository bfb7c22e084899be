"""Ingest speed: 200 feeds x 30 items served locally, cold and warm, beside a naive loop.

    PYTHONPATH=. python benchmarks/ingest.py [--feeds 200] [--items 30] [--latency 0.1]

Feeds are built from real items of the ANT corpus (../shared/data; title, link, pubDate and
description, which is what the sites' feeds carried) and served from a separate process by
the test feed server, spread over 20 loopback addresses (127.0.0.1 to 127.0.0.20) so that the
per-host limit acts as it would on the web. Each response waits `--latency` seconds first:
a remote feed's time to first byte; with no latency a local server measures only CPU.

Three runs over the same feeds, in one process, printed as one JSON object:
- baseline: `feedparser.parse(url)` for each feed, one after the other (what many scripts do);
- cold: `briefing.ingest.ingest` on an empty database (full_text: never, as the baseline
  fetches no article pages either);
- warm: `ingest` again: every feed answers 304 Not Modified.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from briefing.ingest import ingest  # noqa: E402
from briefing.store import Store  # noqa: E402
from tests.ant_feeds import rss  # noqa: E402
from tests.feed_server import FeedServer, write_config  # noqa: E402
from tests.shared_data import SHARED_DATA  # noqa: E402

HOSTS = 20
FILES = (
    "ant_multisource/feed_window_2018-04-01_07.jsonl",
    "ant_multisource/feed_window_2018-06-01_07.jsonl",
    "ant_multisource/bbc_summ_2018-03.jsonl",
    "ant_multisource/bbc_summ_2018-09.jsonl",
)


def _items() -> list[dict]:
    assert SHARED_DATA is not None
    rows: list[dict] = []
    for name in FILES:
        with (SHARED_DATA / name).open(encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle]
    return rows


def _documents(n_feeds: int, per_feed: int) -> dict[str, bytes]:
    """path -> RSS document; items are taken in order, wrapping round when they run out."""
    items = _items()
    documents = {}
    for feed in range(n_feeds):
        start = feed * per_feed
        chosen = [items[(start + i) % len(items)] for i in range(per_feed)]
        documents[f"/feed{feed}.xml"] = rss(chosen, f"feed {feed}", full_text=False)
    return documents


def _serve(documents: dict[str, bytes], latency: float, ports: multiprocessing.Queue) -> None:
    servers = [FeedServer(host=f"127.0.0.{h + 1}") for h in range(HOSTS)]
    for server in servers:
        for path, body in documents.items():
            server.document(path, body, delay=latency)
        server.__enter__()
        ports.put(server.port)
    time.sleep(3600)  # the parent terminates this process


def _urls(ports: list[int], n_feeds: int) -> list[str]:
    return [
        f"http://127.0.0.{f % HOSTS + 1}:{ports[f % HOSTS]}/feed{f}.xml" for f in range(n_feeds)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per response")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    if SHARED_DATA is None:
        sys.exit("needs the real data set at ../shared/data (or $BRIEFING_SHARED_DATA)")

    documents = _documents(args.feeds, args.items)
    ports_queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=_serve, args=(documents, args.latency, ports_queue), daemon=True
    )
    server.start()
    try:
        ports = [ports_queue.get(timeout=60) for _ in range(HOSTS)]
        urls = _urls(ports, args.feeds)
        total_items = args.feeds * args.items
        result = {
            "feeds": args.feeds,
            "items": total_items,
            "latency_s": args.latency,
            "hosts": HOSTS,
            "concurrency": args.concurrency,
        }

        start = time.perf_counter()
        parsed = sum(len(feedparser.parse(url).entries) for url in urls)
        baseline = time.perf_counter() - start
        result["baseline_sequential_feedparser"] = {
            "seconds": round(baseline, 2),
            "items_per_s": round(parsed / baseline, 1),
            "items": parsed,
        }

        with tempfile.TemporaryDirectory() as folder:
            feeds = [
                {"name": f"feed{i}", "url": url, "section": "news", "full_text": "never"}
                for i, url in enumerate(urls)
            ]
            config = write_config(
                Path(folder),
                feeds,
                concurrency=args.concurrency,
                timeout_seconds=20,
                connect_timeout_seconds=10,
            )
            store = Store(config.database_url)
            now = datetime(2018, 10, 1, tzinfo=UTC)
            for run in ("cold", "warm"):
                start = time.perf_counter()
                report = ingest(config, store, now)
                seconds = time.perf_counter() - start
                result[run] = {
                    "seconds": round(seconds, 2),
                    "items_per_s": round(total_items / seconds, 1),
                    "feeds_ok": report.feeds_ok,
                    "feeds_failed": report.feeds_failed,
                    "not_modified": sum(o.not_modified for o in report.outcomes),
                    "new_articles": report.new_articles,
                    "items_parsed": sum(o.items for o in report.outcomes),
                }
            store.close()
        result["cold_speedup_vs_baseline"] = round(baseline / result["cold"]["seconds"], 1)
        result["targets"] = {
            "cold_10x_faster": result["cold_speedup_vs_baseline"] >= 10,
            "warm_under_2_s": result["warm"]["seconds"] < 2,
        }
        print(json.dumps(result, ensure_ascii=False, indent=1))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
