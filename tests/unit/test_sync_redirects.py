"""Which redirects of a source's downloads get the synchroniser's credentials."""

from __future__ import annotations

import httpx
import pytest

from eohub.sync.redirects import trusted


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        # CDSE: the catalogue sends downloads to its download host (cdse.md).
        ("https://catalogue.dataspace.copernicus.eu/odata/v1/Products(1)/$value",
         "https://download.dataspace.copernicus.eu/odata/v1/Products(1)/$value", True),
        ("https://catalogue.dataspace.copernicus.eu/x", "https://zipper.dataspace.copernicus.eu/x",
         True),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:9090/x", True),  # the same host
        ("https://hub.example.org/x", "https://HUB.example.org/y", True),
        ("https://hub.example.org/x", "https://a.b.example.org/y", True),  # under the parent
        ("https://catalogue.dataspace.copernicus.eu/x", "https://evil.copernicus.eu/x", False),
        ("https://catalogue.dataspace.copernicus.eu/x", "https://dataspace.copernicus.eu.evil.org/",
         False),
        ("https://example.org/x", "https://other.org/x", False),  # no parent domain to share
        ("https://hub.example.org/x", "https://cdn.example.net/x", False),
        ("https://hub.example.org/x", "http://download.example.org/x", False),  # no downgrade
        ("http://127.0.0.1:8080/x", "http://localhost:8080/x", False),
        ("http://10.0.0.1/x", "http://10.0.0.2/x", False),
    ],
)  # fmt: skip
def test_credentials_follow_only_to_the_same_host_or_a_sibling_host(
    source: str, target: str, expected: bool
) -> None:
    assert trusted(httpx.URL(source), httpx.URL(target)) is expected
