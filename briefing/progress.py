"""Progress bars on long stages, only for a person at a terminal; never in logs."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")

_enabled = True


def set_enabled(enabled: bool) -> None:
    """The CLI turns bars off for JSON logs; they are also off when stderr is not a terminal."""
    global _enabled
    _enabled = enabled


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    if not (_enabled and sys.stderr.isatty()):
        yield from items
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        yield from bar.track(items, total=total, description=description)
