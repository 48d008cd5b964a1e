"""The catalogue: a service over one of several backends (see ports.CatalogueBackend)."""
