"""Split the updates to send into batch/write calls. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def chunk(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Consecutive slices of at most ``size`` items (HubSpot takes at most 100 inputs per call)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    return [items[start : start + size] for start in range(0, len(items), size)]


def halves(items: Sequence[T]) -> tuple[Sequence[T], Sequence[T]]:
    """Split a rejected batch in two to find the bad inputs (bisection)."""
    middle = len(items) // 2
    return items[:middle], items[middle:]
