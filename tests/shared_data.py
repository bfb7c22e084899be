"""Where the shared real data lives, for tests that need it (skipped where it is absent)."""

from __future__ import annotations

import pytest

from briefing.cluster_eval import shared_data_dir

SHARED_DATA = shared_data_dir()

requires_shared_data = pytest.mark.skipif(
    SHARED_DATA is None,
    reason="shared data not found: set BRIEFING_SHARED_DATA or place it at ../shared/data",
)
