"""The search page's server-side helpers: the search in words, the OpenSearch equivalent, the
product page's sizes and result-list links (plain functions, no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from eohub.api.portal.neighbours import product_url, results_url, search_params
from eohub.api.portal.opensearch_link import lucene_q, opensearch_link
from eohub.api.portal.product_view import human_size, metadata_groups, size_text
from eohub.api.portal.wording import describe, mission_name
from eohub.demo.records import generate_products
from eohub.protocols import plain


def words(**params: str) -> str:
    return describe(plain.parse(params))


def q_of(**params: str) -> str:
    return lucene_q(plain.parse(params))


def test_a_typical_search_reads_as_a_sentence() -> None:
    sentence = words(
        collection="SENTINEL-2",
        start="2024-01-01T00:00:00Z",
        end="2024-01-31T23:59:59.999Z",
        cloud_cover="..30",
        bbox="10,40,20,50",
        sort="-sensing_start",
    )
    assert sentence == (
        "Sentinel-2 products sensed between 2024-01-01 and 2024-01-31, with cloud cover at "
        "most 30%, intersecting the area from 10°E to 20°E and 40°N to 50°N. "
        "Most recently sensed first."
    )


def test_every_form_criterion_has_words() -> None:
    sentence = words(
        platform="Sentinel-1A,Sentinel-1B",
        product_type="GRD",
        orbit_direction="ASCENDING",
        sensor_mode="IW",
        polarisation="VV VH",
        orbit_number="1000..2000",
        relative_orbit="12",
        ingestion_date="2024-02-01T00:00:00Z..2024-02-03T23:59:59.999Z",
        text="forest",
        sort="cloud_cover",
    )
    assert sentence.startswith("Sentinel-1A or Sentinel-1B GRD products ")
    for part in (
        "on ascending orbits",
        "in sensor mode IW",
        "with polarisation VV VH",
        "from absolute orbits 1000 to 2000",
        "on relative orbit 12",
        "ingested between 2024-02-01 and 2024-02-03",
        "matching the text \u201cforest\u201d",
        "Least cloudy first.",
    ):
        assert part in sentence


def test_words_for_other_shapes_of_parameters() -> None:
    assert words() == "All products. Most recently ingested first."
    assert words(end="2024-03-01T10:30:00Z", cloud_cover="10..") == (
        "All products sensed until 2024-03-01 10:30 UTC, with cloud cover at least 10%. "
        "Most recently ingested first."
    )
    assert "the area from 170°E to 170°W and 30°S to 10°N" in words(bbox="170,-30,-170,10")
    assert "lying within the point 45°N 10°E" in words(geometry="POINT(10 45)", relation="within")
    assert "with processing baseline 05.09" in words(processing_baseline="05.09")
    assert mission_name("SENTINEL-5P") == "Sentinel-5P"
    assert mission_name("MY-COLLECTION") == "MY-COLLECTION"


def test_lucene_q_of_the_form_fields() -> None:
    assert q_of() == "*"
    assert q_of(
        collection="SENTINEL-2",
        cloud_cover="..30",
        start="2024-01-01T00:00:00Z",
        end="2024-01-31T23:59:59.999Z",
    ) == (
        'collection:"SENTINEL-2" AND cloudcoverpercentage:[* TO 30.0] AND '
        "endposition:[2024-01-01T00:00:00Z TO *] AND beginposition:[* TO 2024-01-31T23:59:59.999Z]"
    )
    assert q_of(platform="Sentinel-2A,Sentinel-5P") == (
        '((platformname:"Sentinel-2" AND platformserialidentifier:"A") OR '
        'platformname:"Sentinel-5P")'
    )
    assert q_of(orbit_number="5", tile_id="32UNF", text='say "hi"') == (
        'orbitnumber:5 AND tileid:"32UNF" AND "say \\"hi\\""'
    )
    assert q_of(bbox="170,-30,-170,10") == (
        'footprint:"Intersects(POLYGON ((170 -30, 190 -30, 190 10, 170 10, 170 -30)))"'
    )


def test_opensearch_link_paging_order_and_limits() -> None:
    link = opensearch_link(plain.parse({"product_type": "GRD", "sort": "name", "limit": "50",
                                        "offset": "100"}))  # fmt: skip
    assert link.url is not None and link.note is None
    query = parse_qs(urlsplit(link.url).query)
    assert urlsplit(link.url).path == "/search"
    assert query == {"q": ['producttype:"GRD"'], "rows": ["50"], "start": ["100"],
                     "orderby": ["identifier asc"], "format": ["json"]}  # fmt: skip
    too_many = opensearch_link(plain.parse({"limit": "500"}))
    assert too_many.url is None and "at most 100" in str(too_many.note)
    no_keyword = opensearch_link(plain.parse({"publication_date": "2024-01-01.."}))
    assert no_keyword.url is None and "publication_date" in str(no_keyword.note)
    ring = ",".join(f"{10 + i * 0.001:.6f} {45 + (i % 2) * 0.01:.6f}" for i in range(300))
    wkt = f"POLYGON(({ring},10.299 46,10 46,10.000000 45.000000))"
    long_q = opensearch_link(plain.parse({"geometry": wkt}))
    assert long_q.url is None and "3898" in str(long_q.note)
    tokens = opensearch_link(plain.parse({"polarisation": "VV"}))
    assert tokens.url is not None and "more values" in str(tokens.note)


def test_sizes_are_human_and_exact() -> None:
    assert human_size(999) == "999 bytes"
    assert human_size(1_610_612_736) == "1.6 GB"
    assert size_text(1_610_612_736) == "1.6 GB (1,610,612,736 bytes)"
    assert size_text(12) == "12 bytes"


def test_metadata_groups_hold_every_value_once() -> None:
    product = next(iter(generate_products(1, seed=3)))
    product = product.evolve(
        attributes={**product.attributes, "when": datetime(2024, 1, 2, tzinfo=UTC)}
    )
    groups = metadata_groups(product)
    titles = [g.title for g in groups]
    assert titles[0] == "Identification" and titles[-1] == "All other attributes"
    rows = {(g.title, r.label): r.value for g in groups for r in g.rows}
    assert rows[("Identification", "Name")] == product.name
    assert rows[("All other attributes", "when")] == "2024-01-02T00:00:00Z"
    others = [r.label for r in groups[-1].rows]
    assert others == sorted(product.attributes)


def test_result_list_links() -> None:
    context = "collection=SENTINEL-2&sort=-sensing_start&limit=25&offset=50&count=true"
    assert search_params(context)["collection"] == "SENTINEL-2"
    back = results_url(search_params(context), 57)
    assert parse_qs(urlsplit(back).query) == {
        "collection": ["SENTINEL-2"], "sort": ["-sensing_start"], "limit": ["25"], "offset": ["50"]
    }  # fmt: skip
    assert "offset" not in results_url(search_params(context), 3)
    assert results_url({"limit": "abc"}, 30) == "/?limit=25&offset=25"
    url = product_url("abc", "a=1&b=2", 4)
    assert url == "/products/abc?from=a%3D1%26b%3D2&i=4"
    assert product_url("abc", None, None) == "/products/abc"
