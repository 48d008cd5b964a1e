"""Hand-made products for catalogue tests: every optional value missing, shared sort values,
footprints across the antimeridian and round a pole, attributes of every type, and names full
of the characters that wildcard and text matching must treat literally."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eohub.model import Checksum, Footprint, Product, TimeRange, product_id_for

T0 = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)

# A footprint crossing the antimeridian (Fiji, like the S2 tile 01KAB) and a ring round the
# north pole; query boxes at 179.5 and at -179.5 both touch the first one.
ANTIMERIDIAN_RING = [(179.2, -17.25), (180.6, -17.26), (180.62, -16.25), (179.22, -16.24)]
POLAR_RING = [(float(lon), 78.0 + (lon % 60) / 60.0) for lon in range(-180, 180, 30)]


def make_product(name: str, **changes: Any) -> Product:
    """A complete Sentinel-2-like product named ``name`` (Id derived from it), with changes."""
    start = changes.pop("start", T0)
    fields: dict[str, Any] = dict(
        id=product_id_for(name),
        name=name,
        filename=name + ".SAFE",
        collection="SENTINEL-2",
        platform="Sentinel-2A",
        sensing=TimeRange(start, start + timedelta(seconds=3)),
        publication_date=start + timedelta(hours=3),
        ingestion_date=start + timedelta(hours=2),
        modification_date=start + timedelta(hours=3),
        product_type="S2MSI2A",
        footprint=Footprint.from_rings([[(10.0, 45.0), (11.3, 45.0), (11.3, 46.0), (10.0, 46.0)]]),
        size=812_345_678,
        checksums=(Checksum("MD5", "0123456789abcdef0123456789abcdef", start),),
        online=True,
        instrument="MSI",
        processing_level="Level-2A",
        processing_baseline="05.10",
        orbit_number=43000,
        relative_orbit=22,
        orbit_direction="DESCENDING",
        cloud_cover=12.5,
        tile_id="32TPR",
        sensor_mode="INS-NOBS",
        attributes={"qualityStatus": "NOMINAL"},
    )
    fields.update(changes)
    return Product(**fields)


def bare_product(name: str, start: datetime = T0) -> Product:
    """A product with every optional value missing (NULL in the catalogue)."""
    return Product(
        id=product_id_for(name),
        name=name,
        filename=name + ".nc",
        collection="SENTINEL-5P",
        platform="Sentinel-5P",
        sensing=TimeRange(start, start),
        publication_date=start,
        ingestion_date=start,
        modification_date=start,
        product_type="L2__NO2___",
    )


def edge_products() -> list[Product]:
    """About forty products covering the cases generated records rarely hit."""
    out: list[Product] = []
    # Every optional value NULL, several of them so NULLs also share sort positions.
    out += [bare_product(f"EDGE_BARE_{k}", T0 + timedelta(days=k % 2)) for k in range(4)]
    # Twelve products sharing every sort value but the Id.
    for k in range(12):
        keys = {
            "archive_key": f"products/EDGE_SAME_{k:02d}.zip",
            "quicklook_key": f"previews/EDGE_SAME_{k:02d}/quicklook.jpg",
            "thumbnail_key": f"previews/EDGE_SAME_{k:02d}/thumbnail.jpg",
        }
        out.append(make_product(f"EDGE_SAME_{k:02d}", attributes={"batch": "same"}, **keys))
    # Ties on some keys, NULLs on others.
    for k in range(6):
        out.append(
            make_product(
                f"EDGE_TIE_{k}",
                start=T0 + timedelta(minutes=k // 2),
                cloud_cover=None if k % 3 == 0 else 40.0,
                orbit_number=None if k % 2 else 43001,
                tile_id=None if k == 5 else "01KAB",
                size=k // 3,
            )
        )
    out.append(
        make_product(
            "S2A_MSIL2A_20230821T221941_N0509_R029_T01KAB_20230822T021825",
            footprint=Footprint.from_rings([ANTIMERIDIAN_RING]),
            tile_id="01KAB",
            relative_orbit=29,
            cloud_cover=59.050727,
        )
    )
    out.append(
        make_product(
            "S5P_OFFL_L2__NO2____20240501T013547_20240501T031717_33777_03_020600_20240503T053815",
            collection="SENTINEL-5P",
            platform="Sentinel-5P",
            product_type="L2__NO2___",
            instrument="TROPOMI",
            footprint=Footprint.from_rings([POLAR_RING]),
            cloud_cover=None,
            tile_id=None,
            orbit_direction=None,
            relative_orbit=None,
        )
    )
    # Attributes of every type, with the same name holding different types across products.
    kinds: list[dict[str, Any]] = [
        {"qualityIndex": 77, "landCover": 12.25, "sliceProductFlag": True, "origin": "ESA"},
        {"qualityIndex": "77", "landCover": 0.0, "sliceProductFlag": False, "origin": "esa"},
        {"qualityIndex": 78.5, "processingDate": T0, "origin": "ÉSA"},
        {"processingDate": T0 + timedelta(days=1), "origin": "E*S?A\\%_[x]"},
    ]
    for k, attrs in enumerate(kinds):
        out.append(make_product(f"EDGE_ATTR_{k}", attributes=attrs))
    # Names and values that wildcard, LIKE/GLOB and text matching must take literally.
    specials = ["a*b", "a?b", "a%b", "a_b", "a[b]c", "a\\b", "A.B+C(D)", "äbc_ÄBC", "abc def"]
    for k, text in enumerate(specials):
        out.append(
            make_product(
                f"EDGE_TEXT_{k}_{text}",
                polarisation=text,
                swath=text.upper(),
                online=k % 2 == 0,
                start=T0 - timedelta(days=30 + k),
            )
        )
    out.append(make_product("EDGE_UNICODE_Ünïcode_名前", orbit_direction="ASCENDING"))
    return out


def some_uuid(k: int) -> uuid.UUID:
    """A fixed Id not belonging to any sample product."""
    return uuid.UUID(int=k)
