"""A user's workspace: the cart of products to download and the saved searches, with
notifications when new products match a saved search."""

from eohub.workspace.notify import SearchNotifier
from eohub.workspace.ports import CartEntry, SavedSearch, Subscription, WorkspaceStore
from eohub.workspace.service import CartItem, Workspace

__all__ = [
    "CartEntry", "CartItem", "SavedSearch", "SearchNotifier", "Subscription", "Workspace",
    "WorkspaceStore",
]  # fmt: skip
