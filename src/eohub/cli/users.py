"""``eohub user``: add, list, show, lock, unlock, passwd, roles, quota, remove,
purge-unconfirmed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click

from eohub.auth import Accounts
from eohub.cli.apikeys import apikey
from eohub.cli.context import settings_of
from eohub.model.user import Quota, Role, User

ROLE_NAMES = [r.value for r in Role]


def _roles(values: tuple[str, ...]) -> frozenset[Role]:
    try:
        return frozenset(Role.parse(v) for v in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--role") from None


@contextmanager
def _accounts(ctx: click.Context) -> Iterator[Accounts]:
    from eohub.wiring import build_account_store, build_accounts

    settings = settings_of(ctx)
    store = build_account_store(settings)
    try:
        store.migrate()
        yield build_accounts(settings, store)
    finally:
        store.close()


def _password(value: str | None, confirm: bool = True) -> str:
    if value is not None:
        return value
    prompted: str = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return prompted


def _checked(action: str, error: ValueError) -> click.ClickException:
    return click.ClickException(f"{action}: {error}")


def _as_dict(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "roles": sorted(user.roles),
        "email": user.email,
        "locked": user.locked,
        "lock_reason": user.lock_reason,
        "created": user.created.isoformat() if user.created else None,
        "quota": None if user.quota is None else user.quota.__dict__,
    }


@click.group()
def user() -> None:
    """Manage user accounts (HTTP Basic credentials of the APIs)."""


@user.command("add")
@click.argument("name")
@click.option("--password", help="Password (prompted when absent; 8 characters or more).")
@click.option(
    "--role", "roles", multiple=True, metavar="ROLE",
    help=f"Role, repeatable, any case ({', '.join(ROLE_NAMES)}); default search + download.",
)  # fmt: skip
@click.option("--email", help="E-mail address.")
@click.pass_context
def user_add(
    ctx: click.Context, name: str, password: str | None, roles: tuple[str, ...], email: str | None
) -> None:
    """Create user NAME."""
    chosen = _roles(roles)
    with _accounts(ctx) as accounts:
        try:
            created = accounts.create(name, _password(password), chosen, email=email)
        except ValueError as exc:
            raise _checked(f"cannot add user {name!r}", exc) from None
    click.echo(f"added user {created.username} ({', '.join(sorted(created.roles))})")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def user_list(ctx: click.Context, as_json: bool) -> None:
    """List every user with roles and state."""
    with _accounts(ctx) as accounts:
        users = accounts.users()
    if as_json:
        click.echo(json.dumps([_as_dict(u) for u in users], indent=2))
        return
    for u in users:
        state = "locked" if u.locked else "active"
        click.echo(f"{u.username}\t{state}\t{','.join(sorted(u.roles))}")


@user.command("show")
@click.argument("name")
@click.pass_context
def user_show(ctx: click.Context, name: str) -> None:
    """Print one user as JSON."""
    with _accounts(ctx) as accounts:
        click.echo(json.dumps(_as_dict(accounts.user(name)), indent=2))


@user.command("lock")
@click.argument("name")
@click.option("--reason", help="Why (shown to the user when they try to log in).")
@click.pass_context
def user_lock(ctx: click.Context, name: str, reason: str | None) -> None:
    """Lock NAME: their credentials stop working at once."""
    with _accounts(ctx) as accounts:
        accounts.lock(name, reason)
    click.echo(f"locked user {name}")


@user.command("unlock")
@click.argument("name")
@click.pass_context
def user_unlock(ctx: click.Context, name: str) -> None:
    """Unlock NAME (and forget their failed logins)."""
    with _accounts(ctx) as accounts:
        accounts.unlock(name)
    click.echo(f"unlocked user {name}")


@user.command("passwd")
@click.argument("name")
@click.option("--password", help="New password (prompted when absent).")
@click.pass_context
def user_passwd(ctx: click.Context, name: str, password: str | None) -> None:
    """Set NAME's password."""
    with _accounts(ctx) as accounts:
        accounts.user(name)
        try:
            accounts.change_password(name, _password(password))
        except ValueError as exc:
            raise _checked(f"cannot change the password of {name!r}", exc) from None
    click.echo(f"password of {name} changed")


@user.command("roles")
@click.argument("name")
@click.option("--set", "set_roles", multiple=True, metavar="ROLE", help="Replace the roles.")
@click.option("--add", "add_roles", multiple=True, metavar="ROLE", help="Add a role.")
@click.option("--remove", "remove_roles", multiple=True, metavar="ROLE", help="Remove a role.")
@click.pass_context
def user_roles(
    ctx: click.Context,
    name: str,
    set_roles: tuple[str, ...],
    add_roles: tuple[str, ...],
    remove_roles: tuple[str, ...],
) -> None:
    """Show or change NAME's roles."""
    with _accounts(ctx) as accounts:
        current = accounts.user(name).roles
        if set_roles or add_roles or remove_roles:
            base = _roles(set_roles) if set_roles else current
            current = (base | _roles(add_roles)) - _roles(remove_roles)
            accounts.set_roles(name, current)
    click.echo(f"{name}: {', '.join(sorted(current)) or '(no roles)'}")


@user.command("quota")
@click.argument("name")
@click.option("--max-concurrent", type=click.IntRange(min=1), help="Downloads at once.")
@click.option("--max-count", type=click.IntRange(min=1), help="Downloads per period.")
@click.option("--max-volume", type=click.IntRange(min=1), help="Bytes per period.")
@click.option("--max-size", type=click.IntRange(min=1), help="Largest single download (bytes).")
@click.option("--max-bandwidth", type=click.IntRange(min=1024), help="Bytes/s per download.")
@click.option("--period", "period_s", type=click.IntRange(min=1), help="Period in seconds.")
@click.option("--reset", is_flag=True, help="Back to the hub's default limits.")
@click.pass_context
def user_quota(
    ctx: click.Context,
    name: str,
    reset: bool,
    max_concurrent: int | None,
    max_count: int | None,
    max_volume: int | None,
    max_size: int | None,
    max_bandwidth: int | None,
    period_s: int | None,
) -> None:
    """Show or set NAME's own download limits (others keep the hub's defaults)."""
    limits = {
        "max_concurrent": max_concurrent, "max_count": max_count, "max_volume": max_volume,
        "max_size": max_size, "max_bandwidth": max_bandwidth, "period_s": period_s,
    }  # fmt: skip
    with _accounts(ctx) as accounts:
        current = accounts.user(name).quota
        if reset:
            current = None
            accounts.set_quota(name, None)
        elif any(v is not None for v in limits.values()):
            base = (current or Quota()).__dict__
            given = {k: v for k, v in limits.items() if v is not None}
            current = Quota(**{**base, **given})
            accounts.set_quota(name, current)
    shown = "hub defaults" if current is None else json.dumps(current.__dict__)
    click.echo(f"{name}: {shown}")


@user.command("remove")
@click.argument("name")
@click.confirmation_option(prompt="Delete this account?")
@click.pass_context
def user_remove(ctx: click.Context, name: str) -> None:
    """Delete NAME's account."""
    with _accounts(ctx) as accounts:
        accounts.remove(name)
    click.echo(f"removed user {name}")


@user.command("purge-unconfirmed")
@click.option(
    "--days", type=click.IntRange(min=1),
    help="Age in days (default: the portal.unconfirmed_days setting).",
)  # fmt: skip
@click.pass_context
def user_purge_unconfirmed(ctx: click.Context, days: int | None) -> None:
    """Delete signed-up accounts left unconfirmed for longer than the given age."""
    age = timedelta(days=days or settings_of(ctx).portal.unconfirmed_days)
    with _accounts(ctx) as accounts:
        removed = accounts.purge_unconfirmed(age)
    for name in removed:
        click.echo(f"removed unconfirmed user {name}")
    click.echo(f"{len(removed)} unconfirmed account(s) removed")


user.add_command(apikey)
