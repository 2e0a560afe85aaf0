"""Number formatting shared by the HTML, Markdown and terminal renderers (units always shown)."""

from __future__ import annotations

import math
from typing import Any


def num(value: Any) -> float | None:
    """A finite float, or None for anything that is not a figure (None, NaN, bools, strings)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def sig(value: float, digits: int = 3) -> str:
    """``value`` with about ``digits`` significant digits, without scientific notation for usual sizes."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{sig(value)} ms"


def bytes_(value: float | None) -> str:
    if value is None:
        return "n/a"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{sig(size)} {unit}"
        size /= 1024
    return f"{sig(size)} TiB"  # pragma: no cover


def speedup(base_p50: float | None, p50: float | None) -> str:
    """"2.3× faster" / "1.5× slower" than the base."""
    if base_p50 is None or p50 is None or p50 <= 0 or base_p50 <= 0:
        return "n/a"
    ratio = base_p50 / p50
    if abs(ratio - 1) < 0.005:
        return "same speed"
    return f"{ratio:.2f}× faster" if ratio > 1 else f"{1 / ratio:.2f}× slower"


def reduction(base: float | None, value: float | None) -> str:
    """"74% smaller" / "12% larger" than the base."""
    if base is None or value is None or base <= 0:
        return "n/a"
    change = 100.0 * (1 - value / base)
    if abs(change) < 0.5:
        return "same size"
    return f"{change:.0f}% smaller" if change > 0 else f"{-change:.0f}% larger"


def short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def ratio_interval(ratio: float | None, ci: tuple[float, float] | list[float] | None) -> str:
    """``1.31× [1.24–1.39]``: a ratio with its 95% interval (``n/a`` without a ratio)."""
    if ratio is None:
        return "n/a"
    if not ci or num(ci[0]) is None or num(ci[1]) is None:
        return f"{ratio:.2f}×"
    return f"{ratio:.2f}× [{float(ci[0]):.2f}–{float(ci[1]):.2f}]"
