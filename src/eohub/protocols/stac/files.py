"""The files inside a stored zipped product, as Item assets (single-Item endpoint only).

Listing reads the zip's central directory through a seekable file of the archive
(:class:`eohub.protocols.dhus.odata_v1.nodes.ProductTree`, shared with the OData ``Nodes``),
which costs one or two ranged reads per product: cheap for one Item, too dear for every Item of
a search page. Each file carries its MD5 when the catalogue has the product's file checksums.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import BinaryIO

from eohub.errors import HubError
from eohub.model.files import FileManifest
from eohub.model.product import Product
from eohub.protocols.dhus.odata_v1.nodes import ProductTree
from eohub.protocols.stac.items import FileEntry, download_name

MAX_FILES = 5000  # a product with more files lists only its first ones
log = logging.getLogger("eohub.stac")


def product_files(
    product: Product,
    open_file: Callable[[str], BinaryIO],
    manifest: FileManifest | None = None,
) -> list[FileEntry]:
    """The files of a stored zipped product; empty for other or offline products.
    ``manifest``: the checksums of the product's files (used when it describes its object)."""
    key = product.archive_key
    if not product.online or key is None or not key.lower().endswith(".zip"):
        return []
    tree = ProductTree(download_name(product), product.size, lambda: open_file(key))
    sums = manifest if manifest is not None and manifest.describes(key) else None
    out: list[FileEntry] = []
    try:
        for node in tree.roots():
            stack = [node]
            while stack and len(out) < MAX_FILES:
                current = stack.pop()
                if current.is_dir:
                    stack.extend(reversed(tree.children(current)))
                elif current.member is not None:
                    path = tuple(current.member.split("/"))
                    digest = sums.get(current.member) if sums is not None else None
                    md5 = digest.md5 if digest is not None else None
                    out.append(FileEntry(path, current.size, current.content_type, md5))
    except (HubError, OSError) as exc:  # an unreadable archive still has its metadata Item
        log.warning("cannot list the files of product %s: %s", product.id, exc)
        return []
    return out
