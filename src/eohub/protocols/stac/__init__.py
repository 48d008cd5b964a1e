"""STAC API 1.0 (items in STAC 1.1.0) over the one catalogue: a framework-free codec.

``collections`` maps STAC collection ids onto the catalogue; ``cql2`` and ``search`` turn
requests into :class:`eohub.query.Query`; ``items`` renders products; ``landing``,
``queryables`` and ``openapi`` describe the service.
"""
