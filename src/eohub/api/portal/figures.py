"""How the mirroring pages write durations, sizes, dates and rates for people."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

_DURATION = TypeAdapter(timedelta)
_STEPS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


def duration(seconds: float | None) -> str:
    """``2 d 3 h``, ``4 min 10 s``, ``0 s``: the two largest units; a dash when unknown."""
    if seconds is None:
        return "—"
    left = max(0, round(seconds))
    parts: list[str] = []
    for unit, length in _STEPS:
        if left >= length or (unit == "s" and not parts):
            parts.append(f"{left // length} {unit}")
            left %= length
        if len(parts) == 2:
            break
    return " ".join(parts)


def window(iso: str | None) -> str:
    """An ISO 8601 duration (the registry's ``rolling_window``) for people; ``kept`` when
    there is none (no eviction by age)."""
    if not iso:
        return "kept (no eviction by age)"
    try:
        return duration(_DURATION.validate_python(iso).total_seconds())
    except ValidationError:
        return iso


def size(n: int | None) -> str:
    """``1.5 GB`` (decimal units, as the download pages)."""
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover - the loop always returns


def when(value: datetime | None) -> str:
    """``2026-11-22 07:30 UTC``; a dash when unknown."""
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def rate(per_second: float | None) -> str:
    """Products per second, or per minute when slower than one a second."""
    if not per_second:
        return "—"
    if per_second >= 1:
        return f"{per_second:.1f} products/s"
    return f"{per_second * 60:.1f} products/min"


FIGURES: dict[str, Any] = {
    "duration": duration,
    "window": window,
    "size": size,
    "when": when,
    "rate": rate,
}
"""The helpers as template names."""
