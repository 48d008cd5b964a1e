"""Values DHuS shows in its own forms: sizes ("110.44 MB"), dates, numbers, formats, tiles."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal

from eohub.errors import InvalidQuery

_UNITS = ("B", "KB", "MB", "GB", "TB")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?B)?\s*$", re.IGNORECASE)
_FORMATS = {"SAFE": (".SAFE", ".SEN3"), "NETCDF": (".nc",)}


def format_size(size: int) -> str:
    """Bytes as DHuS shows them: two decimals, 1024-based units (``585.49 KB``)."""
    value, unit = float(size), 0
    while value >= 1024.0 and unit < len(_UNITS) - 1:
        value /= 1024.0
        unit += 1
    return f"{value:.2f} {_UNITS[unit]}"


def size_bounds(text: str) -> tuple[int, int]:
    """The inclusive byte range a size value means: ``1234`` or ``110.44 MB`` (as shown)."""
    match = _SIZE.match(text)
    if match is None:
        raise InvalidQuery(
            f"invalid size '{text}': expected bytes or a size such as '110.44 MB'", field="size"
        )
    number, unit = match[1], (match[2] or "").upper()
    if not unit:
        if "." in number:
            raise InvalidQuery(f"invalid size '{text}': bytes are whole numbers", field="size")
        return int(number), int(number)
    scale = 1024 ** _UNITS.index(unit)
    value = float(number)
    decimals = len(number.split(".", 1)[1]) if "." in number else 0
    half = 0.5 * 10.0**-decimals
    low = max(0, math.ceil((value - half) * scale))
    high = max(low, math.ceil((value + half) * scale) - 1)
    return low, high


def unit_range(unit: str) -> tuple[int, int | None]:
    """The byte range :func:`format_size` shows in ``unit`` (B, KB, MB, GB, TB)."""
    index = _UNITS.index(unit.upper())
    low = 0 if index == 0 else 1024**index
    return low, (None if index == len(_UNITS) - 1 else 1024 ** (index + 1) - 1)


def format_of(filename: str) -> str:
    """DHuS ``format``: SAFE for SAFE and SEN3 products, NETCDF for ``.nc``, else the suffix."""
    for name, suffixes in _FORMATS.items():
        if filename.endswith(suffixes):
            return name
    _, dot, suffix = filename.rpartition(".")
    return suffix.upper() if dot else ""


def format_suffixes(value: str) -> tuple[str, ...]:
    """File-name suffixes of products whose ``format`` is ``value`` (exact, as DHuS)."""
    return _FORMATS.get(value, ("." + value,))


def tile_to_hv(tile: str) -> str | None:
    """DHuS ``hv_order_tileid`` (``MS20P``) of an MGRS tile id (``20MPS``)."""
    if len(tile) != 5:
        return None
    return tile[2] + tile[4] + tile[0:2] + tile[3]


def hv_to_tile(hv: str) -> str | None:
    """The MGRS tile id of a ``hv_order_tileid`` value, or None when it cannot be one."""
    if len(hv) != 5:
        return None
    return hv[2:4] + hv[0] + hv[4] + hv[1]


# Two-digit fields and millisecond suffixes, spelled once: feeds write four dates per entry,
# and pasting strings is several times faster than formatting numbers.
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(100))
_MILLIS = tuple("." + f"{n:03d}".rstrip("0") if n else "" for n in range(1000))


def solr_date(value: datetime) -> str:
    """A date as Solr writes it: UTC, milliseconds without trailing zeros, ``Z``."""
    v = value if value.tzinfo is UTC else value.astimezone(UTC)
    two = _TWO_DIGITS
    year = str(v.year) if v.year >= 1000 else f"{v.year:04d}"
    return (
        f"{year}-{two[v.month]}-{two[v.day]}T{two[v.hour]}:{two[v.minute]}:{two[v.second]}"
        f"{_MILLIS[v.microsecond // 1000]}Z"
    )


def java_double(value: float) -> str:
    """A number as Java's ``Double.toString`` writes it (``3.6476``, ``0.0``, ``1.0E-5``)."""
    number = float(value)
    if not math.isfinite(number):
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    if number == 0 or 1e-3 <= abs(number) < 1e7:
        text = repr(number)
        return text if ("." in text or "e" in text) else text + ".0"
    exact = Decimal(repr(number))  # the shortest digits that read back as the same double
    sign, digits, _ = exact.as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{exact.adjusted()}"


def xpath_number(value: float) -> str:
    """A number as XSLT 1.0 writes it (``4``, ``-1``, ``0.012``, ``NaN``, ``Infinity``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))
