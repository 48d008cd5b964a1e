"""The files inside a stored product, as a tree for the product page.

The tree is read through the same :class:`ProductTree` the OData ``Nodes`` use (the zip's
central directory only, never the whole product), and every file links to its OData
``Nodes(...)/$value`` URL so it can be downloaded alone. Large products are cut after
MAX_ENTRIES entries, and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eohub.model.product import Product
from eohub.protocols.dhus.odata_v1.edm import quote_key
from eohub.protocols.dhus.odata_v1.entities import is_online, media_name, product_path
from eohub.protocols.dhus.odata_v1.errors import ODataError
from eohub.protocols.dhus.odata_v1.nodes import NodeInfo, ProductTree
from eohub.storage.errors import StorageError
from eohub.storage.ports import ObjectStore

MAX_ENTRIES = 2000
ODATA = "/odata/v1"


@dataclass
class FileNode:
    """A file or folder; ``url`` downloads a file (folders have none)."""

    name: str
    size: int
    is_dir: bool
    url: str | None
    children: list[FileNode] = field(default_factory=list)


@dataclass
class FileListing:
    """The product's tree (``roots``), how many entries it shows, and whether it was cut."""

    roots: list[FileNode]
    shown: int
    truncated: bool
    error: str | None = None


def list_files(product: Product, store: ObjectStore, limit: int = MAX_ENTRIES) -> FileListing:
    """The files of an online product (an empty listing with a reason otherwise)."""
    key = product.archive_key
    if key is None or not is_online(product):
        return FileListing([], 0, False, "The product is offline: its files cannot be listed.")
    tree = ProductTree(media_name(product), product.size, lambda: store.open_file(key))
    base = f"{ODATA}/{product_path(product.id)}"
    budget = [limit]
    try:
        roots = _walk(tree, tree.roots(), base, budget)
    except (ODataError, StorageError, OSError):
        return FileListing([], 0, False, "The files of this product cannot be read just now.")
    return FileListing(roots, limit - max(budget[0], 0), budget[0] < 0)


def _walk(tree: ProductTree, nodes: list[NodeInfo], path: str, budget: list[int]) -> list[FileNode]:
    out: list[FileNode] = []
    for node in nodes:
        if budget[0] <= 0:
            budget[0] = -1
            break
        budget[0] -= 1
        here = f"{path}/Nodes({quote_key(node.name)})"
        entry = FileNode(
            node.name, node.size, node.is_dir, None if node.is_dir else f"{here}/$value"
        )
        if node.is_dir:
            entry.children = _walk(tree, tree.children(node), here, budget)
        out.append(entry)
    return out
