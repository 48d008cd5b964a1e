"""Sentinel-5P products: one netCDF-4 file with the global and /METADATA attributes of real ones."""

from __future__ import annotations

import random
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np

from eohub.demo.formats.common import (
    VARIANTS,
    Coord,
    FactoryError,
    NcVar,
    ProductFiles,
    attribute,
    iso_seconds,
    latlon_list,
    load_json_template,
    netcdf,
    scene,
)
from eohub.model import Product

NAME = re.compile(
    r"^S5P_(?P<mode>NRTI|OFFL|RPRO)_(?P<type>[A-Z0-9_]{10})_(?P<start>\d{8}T\d{6})"
    r"_(?P<stop>\d{8}T\d{6})_(?P<orbit>\d{5})_(?P<collection>\d{2})_(?P<version>\d{6})"
    r"_(?P<produced>\d{8}T\d{6})$"
)
_MODE_LONG = {"NRTI": "Near real time", "OFFL": "Offline", "RPRO": "Reprocessing"}
# L2 product -> (main variable, institution, processor)
_L2 = {
    "NO2": ("nitrogendioxide_tropospheric_column", "KNMI", "TROPNLL2DP"),
    "AER_AI": ("aerosol_index_354_388", "KNMI", "TROPNLL2DP"),
    "O3": ("ozone_total_vertical_column", "DLR-IMF", "UPAS"),
    "SO2": ("sulfurdioxide_total_vertical_column", "DLR-IMF", "UPAS"),
    "HCHO": ("formaldehyde_tropospheric_vertical_column", "DLR-IMF", "UPAS"),
    "CLOUD": ("cloud_fraction", "DLR-IMF", "UPAS"),
    "CO": ("carbonmonoxide_total_column", "SRON", "TROPNLL2DP"),
    "CH4": ("methane_mixing_ratio", "SRON", "TROPNLL2DP"),
}
_EPOCH_1950 = datetime(1950, 1, 1, tzinfo=UTC)


def _variables(ptype: str, ring: list[Coord], rng: random.Random, px: int) -> list[NcVar]:
    """A small swath: latitude, longitude and the product's main variable (or L1B radiance)."""
    lats = [lat for _, lat in ring]
    lons = [lon for lon, _ in ring]
    shape = (1, px, px)
    lat = np.broadcast_to(np.linspace(min(lats), max(lats), px)[None, :, None], shape)
    lon = np.broadcast_to(np.linspace(min(lons), max(lons), px)[None, None, :], shape)
    values = scene(rng.randrange(VARIANTS), px)[None, :, :]
    dims = ("time", "scanline", "ground_pixel")
    short = ptype[4:].strip("_")
    if ptype.startswith("L1B"):
        band = f"BAND{ptype[-1]}_RADIANCE" if "_RA_" in ptype else "BAND1_IRRADIANCE"
        base = f"{band}/STANDARD_MODE"
        main = NcVar(
            f"{base}/OBSERVATIONS/{'radiance' if '_RA_' in ptype else 'irradiance'}",
            (values * 1e-8).astype("f4"),
            dims,
            {"units": "mol.m-2.nm-1.sr-1.s-1"},
        )
    else:
        base = "PRODUCT"
        var = _L2.get(short, ("qa_value", "KNMI", "TROPNLL2DP"))[0]
        main = NcVar(f"{base}/{var}", (values * 1e-4).astype("f4"), dims, {"units": "mol m-2"})
    geo = f"{base}/GEODATA" if ptype.startswith("L1B") else base
    return [
        NcVar(f"{geo}/latitude", lat.astype("f4"), dims, {"units": "degrees_north"}),
        NcVar(f"{geo}/longitude", lon.astype("f4"), dims, {"units": "degrees_east"}),
        main,
    ]


def _fill(template: Any, values: dict[str, str]) -> Any:
    """Substitute ``${key}`` in a JSON template; 'int:'/'float:' prefixes give numbers."""
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items() if not k.startswith("_")}
    text = str(template)
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        raise KeyError(f"template value left unfilled: {text}")
    if text.startswith("int:"):
        return int(text[4:])
    if text.startswith("float:"):
        return float(text[6:])
    return text


def build(record: Product, rings: list[list[Coord]], rng: random.Random, px: int) -> ProductFiles:
    """The single netCDF file of a Sentinel-5P product for ``record``."""
    m = NAME.match(record.name)
    if m is None:
        raise FactoryError(f"{record.name}: not a Sentinel-5P product name")
    ptype = record.product_type or m["type"]
    ring = rings[0]
    start, stop = record.sensing.start, record.sensing.end
    produced = datetime.strptime(m["produced"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    version = record.processing_baseline or m["version"]
    dotted = (
        f"{int(version[:2])}.{int(version[2:4])}.{int(version[4:])}"
        if len(version) == 6 and version.isdigit()
        else version
    )
    processor_version = str(attribute(record, "processorVersion", dotted))
    level = record.processing_level or ("L1B" if ptype.startswith("L1B") else "L2")
    short = ptype[4:].strip("_")
    _, institution, processor = _L2.get(short, ("", "KNMI", "TROPNLL2DP"))
    lats, lons = [lat for _, lat in ring], [lon for lon, _ in ring]
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    title = f"TROPOMI/S5P {short} 1-Orbit {level} Swath 5.5x3.5km"
    values = {
        "name": record.name,
        "institution": institution,
        "level_text": level,
        "level": level,
        "level_digit": level[1:2],
        "title": title,
        "tracking_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "time_reference": iso_seconds(midnight),
        "days_since_1950": str((midnight - _EPOCH_1950).days),
        "start": iso_seconds(start),
        "stop": iso_seconds(stop),
        "start_plain": iso_seconds(start, zulu=False),
        "stop_plain": iso_seconds(stop, zulu=False),
        "created_plain": iso_seconds(produced, zulu=False),
        "duration": f"PT{(stop - start).total_seconds():.3f}S",
        "orbit": str(record.orbit_number if record.orbit_number is not None else int(m["orbit"])),
        "processor_version": processor_version,
        "processor_name": processor,
        "product_version": processor_version,
        "naming_authority": "nl.knmi" if institution == "KNMI" else "de.dlr",
        "date_created": iso_seconds(produced),
        "processing_date": produced.strftime("%Y-%m-%d"),
        "lat_min": repr(min(lats)),
        "lat_max": repr(max(lats)),
        "lon_min": repr(min(lons)),
        "lon_max": repr(max(lons)),
        "mode": m["mode"],
        "mode_long": _MODE_LONG[m["mode"]],
        "product_type": ptype,
        "eop_product_type": f"S5P_{m['mode']}_{ptype[4:]}",
        "quality_status": str(attribute(record, "qualityStatus", "NOMINAL")),
        "pos_list": latlon_list(ring),
    }
    groups = _fill(load_json_template("s5p_attributes.json"), values)
    files = ProductFiles()
    files.add(f"{record.name}.nc", netcdf(groups, _variables(ptype, ring, rng, px)))
    return files
