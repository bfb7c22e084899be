"""Clustering speed and memory as the intake grows, beside the all-pairs baseline.

    PYTHONPATH=. python benchmarks/cluster.py [--sizes 1000 10000 50000]

Real articles (the April and June windows), repeated with dates shifted a week at a time so
the density per day stays that of real intake. Prints one JSON object: seconds and peak
resident memory per size, and the growth exponent (slope of log time vs log size).
The all-pairs baseline (dense similarity of every pair, then joined) runs at 1k and 10k only.
Each run happens in a fresh forked process, so peak resident memory is its own.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import resource
import sys
import time
from dataclasses import replace
from datetime import timedelta

from briefing import cluster_eval as ev
from briefing.cluster import cluster_labels
from briefing.config import Cluster
from briefing.models import Article
from tests.shared_data import SHARED_DATA

WINDOWS = ("feed_window_2018-04-01_07.jsonl", "feed_window_2018-06-01_07.jsonl")


def intake(base: list[Article], size: int) -> list[Article]:
    """`size` articles: the real ones, then copies shifted by whole weeks."""
    span = max(a.published for a in base) - min(a.published for a in base)
    shift = timedelta(days=math.ceil(span.days / 7 + 1) * 7)
    articles = []
    for round_ in range(math.ceil(size / len(base))):
        for a in base:
            articles.append(
                replace(a, id=f"{a.id}#{round_}", published=a.published + round_ * shift)
            )
    return articles[:size]


def _timed(name: str, articles: list[Article], threshold: float) -> dict[str, float]:
    """Run in a fresh process: wall seconds and the process's peak resident memory."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu = time.process_time()
    started = time.perf_counter()
    if name == "ours":
        cluster_labels(articles, Cluster())
    else:
        ev.all_pairs_clusters(articles, threshold)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),  # the fairer figure on a shared, loaded machine
        "peak_rss_mib": round(peak / 1024, 1),
        "rss_growth_mib": round((peak - before) / 1024, 1),
    }


def measure(name: str, articles: list[Article], threshold: float) -> dict[str, float]:
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        return pool.apply(_timed, (name, articles, threshold))


def exponent(points: list[tuple[int, float]]) -> float:
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(s) for _, s in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return round(slope / sum((x - mean_x) ** 2 for x in xs), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--all-pairs-max", type=int, default=10000)
    args = parser.parse_args()
    data = SHARED_DATA
    if data is None:
        print(json.dumps({"skipped": "shared data not found (set BRIEFING_SHARED_DATA)"}))
        return 0
    base = ev.load_window(data / "ant_multisource" / WINDOWS[0])
    june = ev.load_window(data / "ant_multisource" / WINDOWS[1])
    gap = min(a.published for a in june) - min(a.published for a in base)
    # June moved right after April: two real weeks, then repeats.
    base = base + [replace(a, published=a.published - gap + timedelta(days=7)) for a in june]
    settings = Cluster()
    ours: dict[str, dict[str, float]] = {}
    baseline: dict[str, dict[str, float]] = {}
    for size in args.sizes:
        articles = intake(base, size)
        ours[str(size)] = measure("ours", articles, settings.threshold)
        if size <= args.all_pairs_max:
            baseline[str(size)] = measure("all pairs", articles, settings.threshold)
    points = [(int(n), r["cpu_seconds"]) for n, r in ours.items()]
    result = {
        "articles_per_day": round(len(base) / 14, 1),
        "settings": settings.model_dump(),
        "ours": ours,
        "ours_growth_exponent": exponent(points) if len(points) > 1 else None,
        "all_pairs_baseline": baseline,
        "all_pairs_growth_exponent": (
            exponent([(int(n), r["cpu_seconds"]) for n, r in baseline.items()])
            if len(baseline) > 1
            else None
        ),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "exponents_from": "cpu_seconds",
        "note": "each run in a fresh forked process; peak_rss_mib includes the loaded articles",
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
