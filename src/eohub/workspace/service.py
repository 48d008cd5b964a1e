"""A user's workspace: the cart of products to download and the saved searches.

Everything is scoped to the owner: another user's search Id is NotFound, exactly like an
unknown one. Sizes are bounded so that one account cannot grow without limit.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from eohub.errors import Conflict, InvalidQuery, NotFound
from eohub.model.product import Product
from eohub.workspace.params import canonical_params
from eohub.workspace.ports import CartAdd, ProductLookup, SavedSearch, WorkspaceStore

MAX_CART = 1000
MAX_SEARCHES = 100
MAX_NAME = 100


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CartItem:
    """A product in the cart; ``product`` is None once the catalogue no longer has it."""

    product_id: uuid.UUID
    added: datetime
    product: Product | None

    @property
    def available(self) -> bool:
        """True when the product is still catalogued."""
        return self.product is not None


def check_name(name: str) -> str:
    """A saved search's name, trimmed; InvalidQuery when empty, too long or not printable."""
    name = name.strip()
    if not name:
        raise InvalidQuery("Give the search a name", field="name")
    if len(name) > MAX_NAME:
        raise InvalidQuery(f"A name has at most {MAX_NAME} characters", field="name")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        raise InvalidQuery("A name cannot contain control characters", field="name")
    return name


class Workspace:
    """Carts and saved searches over a :class:`WorkspaceStore` and the catalogue."""

    def __init__(
        self,
        store: WorkspaceStore,
        products: ProductLookup,
        *,
        max_cart: int = MAX_CART,
        max_searches: int = MAX_SEARCHES,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.products = products
        self.max_cart = max_cart
        self.max_searches = max_searches
        self._clock = clock

    # -- cart --------------------------------------------------------------------------------
    def add_to_cart(self, username: str, product_id: uuid.UUID) -> int:
        """Add a catalogued product (again: no change); the number of products in the cart.

        NotFound for an unknown product, Conflict when the cart is full.
        """
        self.products.get(product_id)
        outcome = self.store.add_to_cart(
            username, product_id, self._clock(), max_items=self.max_cart
        )
        if outcome is CartAdd.FULL:
            raise Conflict(
                f"Your cart is full: it holds at most {self.max_cart:,} products. "
                "Download or remove some before adding more."
            )
        return self.store.cart_count(username)

    def remove_from_cart(self, username: str, product_id: uuid.UUID) -> int:
        """Remove a product (one not in the cart: no change); the number left."""
        self.store.remove_from_cart(username, product_id)
        return self.store.cart_count(username)

    def cart(self, username: str) -> list[CartItem]:
        """The cart, newest first, with each product as the catalogue has it now."""
        entries = self.store.cart(username)
        found = {p.id: p for p in self.products.get_many([e.product_id for e in entries])}
        return [CartItem(e.product_id, e.added, found.get(e.product_id)) for e in entries]

    def clear_cart(self, username: str) -> int:
        """Empty the cart; how many products it held."""
        return self.store.clear_cart(username)

    def cart_count(self, username: str) -> int:
        """How many products the cart holds."""
        return self.store.cart_count(username)

    # -- saved searches ----------------------------------------------------------------------
    def save_search(self, username: str, name: str, params: str) -> SavedSearch:
        """Save a search (notification off); nothing is stored when the name or the
        parameters are invalid (InvalidQuery) or the user has too many searches (Conflict)."""
        name = check_name(name)
        canonical = canonical_params(params)
        saved = self.store.add_search(
            username, name, canonical, self._clock(), max_searches=self.max_searches
        )
        if saved is None:
            raise Conflict(
                f"You have {self.max_searches} saved searches, the most allowed: "
                "delete one before saving another."
            )
        return saved

    def searches(self, username: str) -> list[SavedSearch]:
        """The user's saved searches, newest first."""
        return self.store.searches(username)

    def search(self, username: str, search_id: int) -> SavedSearch:
        """One of the user's saved searches; NotFound otherwise."""
        found = self.store.get_search(username, search_id)
        if found is None:
            raise NotFound(f"Saved search {search_id} not found")
        return found

    def rename_search(self, username: str, search_id: int, name: str) -> SavedSearch:
        """Give a saved search a new name."""
        name = check_name(name)
        if not self.store.rename_search(username, search_id, name):
            raise NotFound(f"Saved search {search_id} not found")
        return self.search(username, search_id)

    def set_notify(self, username: str, search_id: int, notify: bool) -> SavedSearch:
        """Turn the e-mail notification of a saved search on or off."""
        if not self.store.set_notify(username, search_id, notify):
            raise NotFound(f"Saved search {search_id} not found")
        return self.search(username, search_id)

    def delete_search(self, username: str, search_id: int) -> None:
        """Delete a saved search."""
        if not self.store.remove_search(username, search_id):
            raise NotFound(f"Saved search {search_id} not found")
