"""``eohub evict``: the rolling archive's eviction policies, and running them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

import click

from eohub.cli.context import settings_of
from eohub.errors import HubError
from eohub.sync.evict import EvictionReport, Evictor
from eohub.sync.model import FilterLanguage
from eohub.sync.policy import Basis, EvictionPolicy, Order, parse_period, parse_policy_schedule


@contextmanager
def _evictor(ctx: click.Context) -> Iterator[Evictor]:
    from eohub.wiring import build_hub

    hub = build_hub(settings_of(ctx))
    try:
        assert hub.evictor is not None
        yield hub.evictor
    except HubError as exc:
        raise click.ClickException(exc.user_message) from None
    finally:
        hub.close()


def _print(report: EvictionReport) -> None:
    kind = "soft" if report.soft else "hard"
    verb = "would evict" if report.dry_run else "evicted"
    count = len(report.planned) if report.dry_run else report.evicted
    size = sum(e.product.size for e in report.planned) if report.dry_run else report.freed
    click.echo(f"policy {report.policy} ({kind}): {verb} {count} products, {size} bytes")
    for item in report.planned:
        p = item.product
        click.echo(f"  {p.id}  {p.name}  {p.size} bytes  {item.reason}")
    for error in report.errors:
        click.echo(f"  error: {error}", err=True)


@click.group(invoke_without_command=True)
@click.option("--policy", "name", help="Run this policy only (default: every policy).")
@click.option("--dry-run", is_flag=True, help="Print what would be evicted; change nothing.")
@click.pass_context
def evict(ctx: click.Context, name: str | None, dry_run: bool) -> None:
    """Run the eviction policies of the rolling archive (or manage them: evict policy)."""
    if ctx.invoked_subcommand is not None:
        return
    with _evictor(ctx) as evictor:
        reports = evictor.run(name, dry_run=dry_run)
    if not reports:
        click.echo("no eviction policy (add one with: eohub evict policy add)")
    for report in reports:
        _print(report)
    if any(r.errors for r in reports):
        ctx.exit(1)


@evict.group()
def policy() -> None:
    """Add, list and remove eviction policies."""


def _bytes(text: str | None) -> int | None:
    if text is None:
        return None
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
    raw = text.strip().upper().replace(" ", "")
    number = raw.rstrip("KMGTB")
    unit = raw[len(number) :]
    if not number.replace(".", "", 1).isdigit() or unit not in units:
        raise click.BadParameter(f"'{text}' is not a size (e.g. 500GB, 2TB, 1000000)")
    return int(float(number) * units[unit])


@policy.command("add")
@click.argument("name")
@click.option("--keep", help="Keep period: 30d, 12h, 90min, 2w, P30D...")
@click.option(
    "--basis", type=click.Choice([b.value for b in Basis]), default="modification",
    show_default=True, help="Date the keep period counts from.",
)  # fmt: skip
@click.option("--filter", "filter_", help="Only products matching this query.")
@click.option(
    "--filter-language", type=click.Choice([f.value for f in FilterLanguage]),
    default="odata", show_default=True, help="Language of --filter (OData $filter or DHuS q=).",
)  # fmt: skip
@click.option("--max-bytes", help="Byte budget of the products selected (e.g. 500GB).")
@click.option(
    "--order", type=click.Choice([o.value for o in Order]), default="fifo", show_default=True,
    help="Which products the byte budget evicts first.",
)  # fmt: skip
@click.option("--max-products", type=int, default=1000, show_default=True, help="Per run.")
@click.option("--hard", is_flag=True, help="Remove the products (DeletedProducts), not just bytes.")
@click.option(
    "--schedule",
    help="Run by the server every period (1h, 30min, P1D) or at the times of a cron expression "
    "in UTC ('0 3 * * *', @daily); default: by hand.",
)
@click.pass_context
def policy_add(
    ctx: click.Context,
    name: str,
    keep: str | None,
    basis: str,
    filter_: str | None,
    filter_language: str,
    max_bytes: str | None,
    order: str,
    max_products: int,
    hard: bool,
    schedule: str | None,
) -> None:
    """Add the eviction policy NAME."""
    with _evictor(ctx) as evictor:
        interval_s, cron = parse_policy_schedule(schedule) if schedule else (None, None)
        added = evictor.add(
            EvictionPolicy(
                name=name,
                keep_s=parse_period(keep) if keep else None,
                basis=Basis(basis),
                filter=filter_,
                filter_language=FilterLanguage(filter_language),
                max_bytes=_bytes(max_bytes),
                order=Order(order),
                max_products=max_products,
                soft=not hard,
                interval_s=interval_s,
                cron=cron,
            )
        )
    click.echo(f"added eviction policy {added.name}")


@policy.command("list")
@click.pass_context
def policy_list(ctx: click.Context) -> None:
    """Every policy, as JSON lines, with its next run by the server (null: by hand)."""
    with _evictor(ctx) as evictor:
        planned = evictor.planned_runs()
        for item in evictor.policies():
            when = planned.get(item.name)
            shown = {**asdict(item), "next_run": when.isoformat() if when else None}
            click.echo(json.dumps(shown, sort_keys=True))


@policy.command("remove")
@click.argument("name")
@click.pass_context
def policy_remove(ctx: click.Context, name: str) -> None:
    """Remove the eviction policy NAME (what it evicted stays evicted)."""
    with _evictor(ctx) as evictor:
        evictor.remove(name)
    click.echo(f"removed eviction policy {name}")
