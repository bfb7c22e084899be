"""Helpers shared by the benchmark scripts: paths, the data set, JSON output."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

from tests.shared_data import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """../shared/data or $BRIEFING_SHARED_DATA; exits with a clear message when absent."""
    if SHARED_DATA is None:
        sys.exit("benchmark needs the data set at ../shared/data (or set BRIEFING_SHARED_DATA)")
    return SHARED_DATA


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result, ensure_ascii=False, indent=2))
