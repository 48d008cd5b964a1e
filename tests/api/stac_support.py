"""Helpers of the STAC API tests: a hub with ingested products plus catalogue-only records."""

from __future__ import annotations

import base64
from pathlib import Path

from odata_support import OdataHub, build_odata_hub

from account_support import DOWNLOADER
from eohub.demo.records import generate_products

AUTH_HEADER = {"Authorization": "Basic " + base64.b64encode(":".join(DOWNLOADER).encode()).decode()}


def build_stac_hub(root: Path, *, records: int = 60, **settings: object) -> OdataHub:
    """Eight ingested products of every mission, one offline product and ``records``
    catalogue-only products (offline, no bytes) so searches span several pages."""
    built = build_odata_hub(root, n=8, **settings)
    extra = [
        p.evolve(online=False, archive_key=None, quicklook_key=None, thumbnail_key=None)
        for p in generate_products(records, seed=77)
    ]
    built.hub.catalogue.upsert(extra)
    return built
