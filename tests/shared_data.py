"""Where the real data set lives: ../shared/data beside the project, or $BRIEFING_SHARED_DATA.

Tests that read it skip with a clear reason where it is absent (a stranger's fresh clone).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _locate() -> Path | None:
    candidates = [os.environ.get("BRIEFING_SHARED_DATA"), ROOT.parent / "shared" / "data"]
    # A git worktree inside the project (.worktrees/x) still finds the data of its main checkout.
    candidates += [p / "shared" / "data" for p in ROOT.parents]
    for candidate in candidates:
        if candidate and (Path(candidate) / "README.md").is_file():
            return Path(candidate)
    return None


SHARED_DATA: Path | None = _locate()

requires_shared_data = pytest.mark.skipif(
    SHARED_DATA is None,
    reason="needs the real data set at ../shared/data (or $BRIEFING_SHARED_DATA); absent here",
)
