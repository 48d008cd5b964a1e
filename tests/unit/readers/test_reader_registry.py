"""The reader registry (built-ins and entry-point plugins) and the safe XML helpers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from reader_samples import SAMPLES, load_facts

from eohub.ingest.errors import RejectedProduct
from eohub.ingest.readers import (
    ENTRY_POINT_GROUP,
    available_readers,
    find_reader,
    read_product,
)
from eohub.ingest.readers.base import ProductMetadata, Reader
from eohub.ingest.readers.xml import UnsafeXml, camel, parse_time, parse_xml, typed
from eohub.ingest.source import ProductSource
from eohub.model import TimeRange

FACTS = load_facts()
MISSION_READER = {
    "Sentinel-1": "sentinel-1",
    "Sentinel-2": "sentinel-2",
    "Sentinel-3": "sentinel-3",
    "Sentinel-5P": "sentinel-5p",
}


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    available_readers.cache_clear()
    yield
    available_readers.cache_clear()


def test_builtin_readers_are_available(fresh_registry: None) -> None:
    names = [r.name for r in available_readers()]
    assert set(MISSION_READER.values()) <= set(names)
    assert len(names) == len(set(names))
    assert all(isinstance(r, Reader) for r in available_readers())


@pytest.mark.parametrize("key", sorted(FACTS))
def test_each_sample_finds_its_mission_reader(key: str) -> None:
    with ProductSource.open(SAMPLES / key) as source:
        reader = find_reader(source)
        others = [r for r in available_readers() if r is not reader]
        assert not [r.name for r in others if r.accepts(source)]
    assert reader.name == MISSION_READER[FACTS[key]["mission"]]


PLUGIN = """
from datetime import UTC, datetime
from eohub.ingest.readers.base import ProductMetadata
from eohub.model import TimeRange


class ToyReader:
    name = "toy"

    def accepts(self, source):
        return source.root_name.endswith(".TOY")

    def read(self, source):
        when = datetime(2024, 1, 2, tzinfo=UTC)
        return ProductMetadata(
            name=source.root_name[:-4], filename=source.root_name, collection="TOY",
            platform="Toy-1A", product_type="T", sensing=TimeRange(when, when),
        )


class CrashingReader:
    name = "crashing"

    def accepts(self, source):
        return source.root_name.endswith(".CRASH")

    def read(self, source):
        raise ZeroDivisionError("boom")
"""


@pytest.fixture
def plugin_dist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> Iterator[Path]:
    """A plugin distribution installed on sys.path only for this test."""
    (tmp_path / "toy_reader_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "toy_reader_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-reader-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "toy = toy_reader_plugin:ToyReader\n"
        "crashing = toy_reader_plugin:CrashingReader\n"
        "broken = toy_reader_plugin_missing:Nothing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path


def test_plugin_readers_come_from_entry_points(
    plugin_dist: Path, caplog: pytest.LogCaptureFixture
) -> None:
    product = plugin_dist / "ABC.TOY"
    product.mkdir()
    (product / "data.bin").write_bytes(b"1")
    with caplog.at_level(logging.ERROR):
        with ProductSource.open(product) as source:
            meta = read_product(source)
    assert meta.name == "ABC" and meta.platform == "Toy-1A"
    names = [r.name for r in available_readers()]
    assert "toy" in names and set(MISSION_READER.values()) <= set(names)
    assert "cannot load reader plugin broken" in caplog.text


def test_a_crashing_reader_rejects_instead_of_crashing(plugin_dist: Path) -> None:
    product = plugin_dist / "ABC.CRASH"
    product.mkdir()
    (product / "data.bin").write_bytes(b"1")
    with ProductSource.open(product) as source:
        with pytest.raises(RejectedProduct, match="crashing reader failed: boom"):
            read_product(source)


def test_explicit_reader_list(tmp_path: Path) -> None:
    class Nothing:
        name = "nothing"

        def accepts(self, source: ProductSource) -> bool:
            return False

        def read(self, source: ProductSource) -> ProductMetadata:
            when = datetime(2024, 1, 1, tzinfo=UTC)
            return ProductMetadata("n", "n", "C", "P", "T", TimeRange(when, when))

    key = next(iter(FACTS))
    with ProductSource.open(SAMPLES / key) as source:
        with pytest.raises(RejectedProduct, match="unknown product type"):
            find_reader(source, [Nothing()])


def test_utf16_doctype_is_refused_after_parsing() -> None:
    doc = '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE a [<!ENTITY e "x">]>\n<a>&e;</a>'
    with pytest.raises(UnsafeXml, match="DOCTYPE"):
        parse_xml(doc.encode("utf-16"))


def test_external_entity_is_never_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = f'<!DOCTYPE a [<!ENTITY e SYSTEM "file://{secret}">]><a>&e;</a>'.encode()
    with pytest.raises(UnsafeXml) as err:
        parse_xml(doc)
    assert "TOP-SECRET" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("FALSE", False),
        ("42", 42),
        ("-7", -7),
        ("004", "004"),
        ("02.14", "02.14"),
        ("0.0", 0.0),
        ("3.0E-5", 3.0e-5),
        ("6.669225000000001", 6.669225000000001),
        ("2021-09-08T04:40:48.758475Z", datetime(2021, 9, 8, 4, 40, 48, 758475, tzinfo=UTC)),
        ("20211021T091357", datetime(2021, 10, 21, 9, 13, 57, tzinfo=UTC)),
        ("UTC=2020-03-03T01:57:22", datetime(2020, 3, 3, 1, 57, 22, tzinfo=UTC)),
        ("Not applicable", "Not applicable"),
        ("nan", "nan"),
    ],
)
def test_typed_values(text: str, value: object) -> None:
    result = typed(text)
    assert result == value and type(result) is type(value)


def test_parse_time_keeps_microseconds_and_zones() -> None:
    assert parse_time("2021-08-09T17:39:53.1537769Z").microsecond == 153776
    assert parse_time("2021-08-09T19:39:53.5+02:00") == datetime(
        2021, 8, 9, 17, 39, 53, 500000, tzinfo=UTC
    )
    with pytest.raises(ValueError):
        parse_time("yesterday")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NODATA_PIXEL_PERCENTAGE", "nodataPixelPercentage"),
        ("Cloud_Coverage_Assessment", "cloudCoverageAssessment"),
        ("L1C_TILE_ID", "l1cTileId"),
        ("time_coverage_start", "timeCoverageStart"),
        ("ProcessingCenter", "processingCenter"),
        ("eop:productType", "productType"),
        ("productClassDescription", "productClassDescription"),
    ],
)
def test_camel_names(name: str, expected: str) -> None:
    assert camel(name) == expected
