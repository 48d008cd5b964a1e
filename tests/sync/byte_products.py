"""Generated products with small real bytes in a hub's archive, many and fast: the upstream
of the mirroring fault and crash tests (the factory's full SAFE folders would take minutes to
build and ingest by the thousand)."""

from __future__ import annotations

import hashlib
import io
import random
from itertools import islice

from eohub.demo.records import generate_products
from eohub.model.product import Checksum, Product
from eohub.storage.ports import product_key
from eohub.wiring import Hub


def add_byte_products(
    hub: Hub,
    n: int,
    *,
    seed: int = 0,
    size: tuple[int, int] = (1024, 4096),
    quicklook_every: int = 0,
) -> list[Product]:
    """Catalogue ``n`` generated products whose bytes (random, ``size`` bytes long) are in the
    hub's archive, with the archive's own MD5 and BLAKE3; every ``quicklook_every``-th one has
    a quicklook too. Returns them as catalogued."""
    rng = random.Random(seed)
    out: list[Product] = []
    records = iter(generate_products(n, seed=seed))
    index = 0
    while batch := list(islice(records, 500)):
        done: list[Product] = []
        for record in batch:
            filename = f"{record.name}.zip"
            body = rng.randbytes(rng.randint(*size))
            stored = hub.store.put(
                product_key(record.id, filename), io.BytesIO(body), expected_size=len(body)
            )
            quicklook = None
            if quicklook_every and index % quicklook_every == 0:
                image = rng.randbytes(256)
                quicklook = product_key(record.id, "quicklook.jpg")
                hub.store.put(quicklook, io.BytesIO(image), expected_size=len(image))
            index += 1
            done.append(
                record.evolve(
                    filename=filename,
                    online=True,
                    archive_key=stored.key,
                    size=stored.size,
                    quicklook_key=quicklook,
                    thumbnail_key=None,
                    checksums=(Checksum("MD5", stored.md5), Checksum("BLAKE3", stored.blake3)),
                )
            )
        hub.catalogue.upsert(done)
        out.extend(done)
    return out


def stored_md5(hub: Hub, key: str) -> str:
    """MD5 of the object ``key`` as the hub's archive serves it (computed here, not the
    store's recorded checksum)."""
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in hub.store.open(key):
        digest.update(chunk)
    return digest.hexdigest()
