"""Accounts the API tests sign in with."""

from __future__ import annotations

from eohub.model import Role
from eohub.wiring import Hub

DOWNLOADER = ("downloader", "downloader-password")
"""A user with the SEARCH and DOWNLOAD roles; the request helpers send it by default."""


def add_downloader(hub: Hub) -> None:
    """Create :data:`DOWNLOADER` in ``hub``."""
    hub.accounts.create(*DOWNLOADER, [Role.SEARCH, Role.DOWNLOAD])
