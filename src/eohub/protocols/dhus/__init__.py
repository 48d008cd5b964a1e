"""The DHuS (Copernicus Open Access Hub) protocols: OpenSearch ``/search``.

``lucene`` parses ``q=`` into the query tree, ``opensearch`` reads the request parameters and
lays out the result feed, ``opensearch_atom`` and ``opensearch_json`` write it.
"""

from eohub.protocols.dhus.lucene import parse_q
from eohub.protocols.dhus.opensearch import (
    DhusHttpError,
    Feed,
    SearchRequest,
    build_feed,
    parse_request,
)

__all__ = ["DhusHttpError", "Feed", "SearchRequest", "build_feed", "parse_q", "parse_request"]
