"""Stored STAC Items (``items.ITEM_DOCUMENT``): read back under any hub URL, they are byte for
byte the Items rendered for that URL."""

from __future__ import annotations

import orjson
import pytest

from eohub.demo.records import generate_products
from eohub.model.documents import BASE_MARK
from eohub.protocols.stac import items

PRODUCTS = list(generate_products(60, seed=4))


@pytest.mark.parametrize(
    "hub", ["http://127.0.0.1:8080", 'https://h\u00e9te.example/"odd"\\path', "http://h/x%20y"]
)
def test_a_stored_item_is_the_item_rendered_for_the_hub(hub: str) -> None:
    urls = items.Urls(stac=hub + "/stac", hub=hub)
    assert items.serves_stored(urls)
    for product in PRODUCTS:
        stored = items.stored_item(items.item_document(product), urls)
        assert orjson.dumps([stored]) == orjson.dumps([items.render_item(product, urls)])
        assert BASE_MARK not in orjson.loads(orjson.dumps(stored))["links"][0]["href"]


def test_urls_of_another_layout_are_rendered_not_read() -> None:
    assert not items.serves_stored(items.Urls(stac="http://h/api/stac", hub="http://h"))
