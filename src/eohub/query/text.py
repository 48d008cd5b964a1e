"""Tokens for full-text search: the same function feeds the evaluator and every backend index."""

from __future__ import annotations

import re
from datetime import datetime

from eohub.model.product import Product

_TOKEN = re.compile(r"[^\W_]+")

# Product fields whose values are searchable as text (besides string attributes).
_TEXT_FIELDS = (
    "name", "collection", "platform", "instrument", "product_type", "processing_level",
    "processing_baseline", "orbit_direction", "tile_id", "polarisation", "sensor_mode", "swath",
    "timeliness", "product_class",
)  # fmt: skip


def tokenize(text: str) -> list[str]:
    """Split ``text`` into lower-case alphanumeric tokens (``_``, ``-``, spaces separate)."""
    return _TOKEN.findall(text.lower())


def product_text(product: Product) -> str:
    """The searchable text of a product: its name and string metadata values."""
    values: list[str] = [product.mission]
    for name in _TEXT_FIELDS:
        value = getattr(product, name)
        if isinstance(value, str):
            values.append(value)
    for value in product.attributes.values():
        if isinstance(value, str) and not isinstance(value, datetime):
            values.append(value)
    return " ".join(values)


def product_tokens(product: Product) -> frozenset[str]:
    """The set of tokens of :func:`product_text`."""
    return frozenset(tokenize(product_text(product)))


def query_tokens(text: str) -> tuple[list[str], bool]:
    """Tokens of a Text query, and whether the last one is a prefix (trailing ``*``)."""
    stripped = text.strip()
    prefix = stripped.endswith("*")
    tokens = tokenize(stripped.rstrip("*"))
    return tokens, prefix and bool(tokens)
