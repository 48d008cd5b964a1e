"""Offline schemas for stac-api-validator in the tests (this folder goes on PYTHONPATH).

stac-validator downloads JSON schemas while it validates. With no network, the STAC 1.1.0 core
and GeoJSON schemas are read from the copies pystac ships, and every community-extension schema
(``https://stac-extensions.github.io/...``) is replaced by an empty object schema: offline, the
Items are checked against the core schemas only, not against their extensions' schemas.
"""

import json
import os

try:
    import pystac.validation as _pv
    import stac_validator.utilities as _u

    _BASE = os.path.join(os.path.dirname(_pv.__file__), "jsonschemas")
    _CORE = os.path.join(_BASE, "stac-spec", "v1.1.0")
    _MAP = {}
    for _spec in ("item", "collection", "catalog"):
        for _name in os.listdir(_CORE):
            _url = f"https://schemas.stacspec.org/v1.1.0/{_spec}-spec/json-schema/{_name}"
            _MAP[_url] = os.path.join(_CORE, _name)
    for _name in ("Feature", "Geometry"):
        _MAP[f"https://geojson.org/schema/{_name}.json"] = os.path.join(
            _BASE, "geojson", f"{_name}.json"
        )
    _EXTENSION = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}
    _original = _u.fetch_and_parse_file

    def _offline(input_path, headers=None):  # type: ignore[no-untyped-def]
        url = str(input_path).split("#")[0]
        if url in _MAP:
            with open(_MAP[url]) as handle:
                return json.load(handle)
        if url.startswith("https://stac-extensions.github.io/"):
            return dict(_EXTENSION)
        return _original(input_path, headers) if headers is not None else _original(input_path)

    _u.fetch_and_parse_file = _offline
except Exception:  # never break interpreter start-up
    pass
