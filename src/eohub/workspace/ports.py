"""What the workspace keeps (cart entries, saved searches) and the contract of its store."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from eohub.model.product import Product


@dataclass(frozen=True)
class CartEntry:
    """One product in a user's cart, as stored."""

    product_id: uuid.UUID
    added: datetime


@dataclass(frozen=True)
class SavedSearch:
    """A search a user saved: ``params`` is a plain API query string (``eohub.protocols.plain``)."""

    id: int
    name: str
    params: str
    notify: bool
    created: datetime
    last_notified: datetime | None = None


@dataclass(frozen=True)
class Subscription:
    """A saved search with notification on, and where its owner gets mail."""

    search: SavedSearch
    username: str
    email: str


class CartAdd(StrEnum):
    """What adding a product to a cart did."""

    ADDED = "added"
    PRESENT = "present"  # already in the cart: nothing changed
    FULL = "full"  # the cart holds the maximum number of products: nothing changed


class WorkspaceStore(Protocol):
    """Carts and saved searches, always scoped to one owner (usernames are case-insensitive).

    A search Id of another user behaves exactly like an unknown Id.
    """

    # -- cart --------------------------------------------------------------------------------
    def cart(self, username: str) -> list[CartEntry]:
        """The user's cart entries, newest first."""

    def add_to_cart(
        self, username: str, product_id: uuid.UUID, added: datetime, *, max_items: int
    ) -> CartAdd:
        """Add one product unless it is already there or the cart holds ``max_items``."""

    def remove_from_cart(self, username: str, product_id: uuid.UUID) -> bool:
        """Remove one product; False when it was not in the cart."""

    def clear_cart(self, username: str) -> int:
        """Empty the cart; how many products it held."""

    def cart_count(self, username: str) -> int:
        """How many products the cart holds."""

    # -- saved searches ----------------------------------------------------------------------
    def add_search(
        self, username: str, name: str, params: str, created: datetime, *, max_searches: int
    ) -> SavedSearch | None:
        """Store a search; None (nothing stored) when the user already has ``max_searches``."""

    def searches(self, username: str) -> list[SavedSearch]:
        """The user's saved searches, newest first."""

    def get_search(self, username: str, search_id: int) -> SavedSearch | None:
        """One of the user's saved searches."""

    def rename_search(self, username: str, search_id: int, name: str) -> bool:
        """Rename; False when the user has no such search."""

    def set_notify(self, username: str, search_id: int, notify: bool) -> bool:
        """Turn notification on or off; False when the user has no such search."""

    def remove_search(self, username: str, search_id: int) -> bool:
        """Delete; False when the user has no such search."""

    # -- notifications -----------------------------------------------------------------------
    def any_notify(self) -> bool:
        """Whether any saved search has notification on (one indexed query)."""

    def subscriptions(self) -> list[Subscription]:
        """Searches with notification on whose owner has an e-mail address, is confirmed and
        is not locked."""

    def mark_notified(self, search_ids: Sequence[int], at: datetime) -> None:
        """Record when these searches last sent a notification."""


class ProductLookup(Protocol):
    """The part of the catalogue the workspace reads (``eohub.catalogue.service.Catalogue``)."""

    def get(self, product_id: uuid.UUID) -> Product:
        """One product; ``eohub.errors.NotFound`` when unknown."""

    def get_many(self, product_ids: Sequence[uuid.UUID]) -> list[Product]:
        """Products by Id in the given order, skipping unknown Ids."""
