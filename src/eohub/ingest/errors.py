"""Errors raised while opening and reading products for ingest."""

from __future__ import annotations

from pathlib import Path

from eohub.errors import HubError


class RejectedProduct(HubError):
    """A product that cannot be ingested: corrupt, hostile, unreadable or of an unknown type.

    ``reason`` says what is wrong in one sentence; ``path`` is the product as given.
    """

    code = "rejected_product"

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"product rejected: {Path(self.path).name}: {reason}")
