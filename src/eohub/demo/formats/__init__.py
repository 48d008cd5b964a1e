"""Per-mission writers of the product factory (see :mod:`eohub.demo.factory`)."""
