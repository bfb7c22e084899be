"""Where the shared real data lives, and a mark that skips a test when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parent.parent


def _find() -> Path | None:
    """$BRIEFING_SHARED_DATA, else `../shared/data` beside the repo (or beside an ancestor,
    for a git worktree nested inside the main checkout)."""
    if os.environ.get("BRIEFING_SHARED_DATA"):
        path = Path(os.environ["BRIEFING_SHARED_DATA"])
        return path if path.is_dir() else None
    for folder in [_REPO, *_REPO.parents]:
        candidate = folder.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


SHARED_DATA: Path | None = _find()

requires_shared_data = pytest.mark.skipif(
    SHARED_DATA is None,
    reason="real data not found at ../shared/data (set BRIEFING_SHARED_DATA to its path)",
)
