"""``eohub user apikey``: add, list and revoke a user's personal API keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import click

from eohub.auth.apikeys import ApiKeys
from eohub.cli.context import settings_of


@contextmanager
def _api_keys(ctx: click.Context) -> Iterator[ApiKeys]:
    from eohub.wiring import build_account_store, build_accounts, build_tokens

    settings = settings_of(ctx)
    store = build_account_store(settings)
    try:
        store.migrate()
        yield build_tokens(settings, store, build_accounts(settings, store)).api_keys
    finally:
        store.close()


@click.group("apikey")
def apikey() -> None:
    """Personal API keys (Bearer, ?token= or the HTTP Basic password)."""


@apikey.command("add")
@click.argument("username")
@click.argument("keyname")
@click.option("--days", type=click.IntRange(min=1), help="Validity (default: until revoked).")
@click.pass_context
def apikey_add(ctx: click.Context, username: str, keyname: str, days: int | None) -> None:
    """Create key KEYNAME of USERNAME and print it (the only time it is shown)."""
    with _api_keys(ctx) as keys:
        lifetime = None if days is None else timedelta(days=days)
        try:
            _, key = keys.create(username, keyname, lifetime=lifetime)
        except ValueError as exc:
            raise click.ClickException(f"cannot add API key {keyname!r}: {exc}") from None
    click.echo(key)


@apikey.command("list")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def apikey_list(ctx: click.Context, username: str, as_json: bool) -> None:
    """List the keys of USERNAME (names and first characters, never the keys)."""
    with _api_keys(ctx) as keys:
        listed = keys.list(username)

    def when(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    rows = [
        {"name": k.name, "key": k.shown, "created": when(k.created),
         "last_used": when(k.last_used), "expires": when(k.expires)}
        for k in listed
    ]  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo("\t".join(str(row[c] or "-") for c in ("name", "key", "created", "expires")))


@apikey.command("revoke")
@click.argument("username")
@click.argument("keyname")
@click.pass_context
def apikey_revoke(ctx: click.Context, username: str, keyname: str) -> None:
    """Revoke key KEYNAME of USERNAME: it stops working at once."""
    with _api_keys(ctx) as keys:
        keys.revoke(username, keyname)
    click.echo(f"revoked API key {keyname} of {username}")
