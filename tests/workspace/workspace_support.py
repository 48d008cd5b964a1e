"""A workspace over real account and catalogue databases (SQLite files or PostgreSQL)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eohub.auth import Accounts
from eohub.auth.passwords import Passwords
from eohub.catalogue.service import Catalogue
from eohub.demo.records import generate_products
from eohub.model import Product
from eohub.workspace import Workspace
from eohub.workspace.store import SqlWorkspaceStore


@dataclass
class Env:
    """Accounts, catalogue (with products) and the workspace over them."""

    accounts: Accounts
    catalogue: Catalogue
    store: SqlWorkspaceStore
    workspace: Workspace
    products: list[Product]


def ticking_clock(start: datetime = datetime(2026, 3, 1, tzinfo=UTC)) -> Callable[[], datetime]:
    """A clock one second later at each call (so "newest first" is well defined)."""
    seconds = itertools.count()
    return lambda: start + timedelta(seconds=next(seconds))


@contextmanager
def workspace_env(kind: str, root: Path, dsn: str | None = None, **limits: int) -> Iterator[Env]:
    """``kind`` sqlite (files under ``root``) or postgres (the database at ``dsn``)."""
    account_store: Any
    if kind == "sqlite":
        from eohub.auth.stores.sqlite import SQLiteAccountStore
        from eohub.catalogue.sqlite import SQLiteCatalogue

        account_store = SQLiteAccountStore(root / "accounts.sqlite")
        backend: Any = SQLiteCatalogue(root / "catalogue.sqlite")
    else:
        from eohub.auth.stores.postgres import PostgresAccountStore
        from eohub.catalogue.postgis import PostgisCatalogue

        assert dsn is not None
        account_store = PostgresAccountStore(dsn)
        backend = PostgisCatalogue(dsn)
    account_store.migrate()
    backend.migrate()
    catalogue = Catalogue(backend)
    products = list(generate_products(6, seed=3))
    catalogue.upsert(products)
    accounts = Accounts(account_store, passwords=Passwords(cache_s=0))
    store = SqlWorkspaceStore(account_store.connect, account_store.dialect)
    try:
        workspace = Workspace(store, catalogue, clock=ticking_clock(), **limits)
        yield Env(accounts, catalogue, store, workspace, products)
    finally:
        backend.close()
        account_store.close()
