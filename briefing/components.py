"""Connected components: which items end up together when linked pairs are joined."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components


def connected_labels(size: int, rows: Sequence[int], cols: Sequence[int]) -> list[int]:
    """A label per item, shared by items linked (rows[k], cols[k]) directly or through others."""
    graph = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    return connected_components(graph, directed=False)[1].tolist()
