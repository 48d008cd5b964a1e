"""``eohub sync``: add, list, show, pause, resume, remove and run synchronisers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from eohub.cli.context import settings_of
from eohub.errors import HubError
from eohub.sync import SyncDefinition, Synchroniser, SyncMode, SyncService
from eohub.sync.model import FilterLanguage, SourceProtocol, ValueServing


@contextmanager
def _service(ctx: click.Context) -> Iterator[SyncService]:
    from eohub.wiring import build_hub, build_sync

    hub = build_hub(settings_of(ctx))
    try:
        yield build_sync(hub)
    except HubError as exc:
        raise click.ClickException(exc.user_message) from None
    finally:
        hub.close()


def _as_dict(sync: Synchroniser) -> dict[str, Any]:
    d = sync.definition
    c = sync.cursor
    return {
        "id": sync.id,
        "label": d.label,
        "source": d.url,
        "sources": list(d.urls),
        "protocol": d.source_protocol.value,
        "serve_value": d.value.value,
        "username": d.username,
        "password": "***" if d.password else None,
        "token": "***" if d.token else None,
        "mode": d.mode.value,
        "filter": d.filter,
        "filter_language": d.filter_language.value,
        "geofilter": d.geofilter,
        "collection": d.collection,
        "page_size": d.page_size,
        "streams": d.streams,
        "deletions": d.deletions,
        "schedule": d.schedule,
        "status": sync.status.value,
        "cursor": {"time_ms": c.time_ms, "bucket": c.bucket, "after_id": c.after_id},
        "products": sync.counters.products,
        "bytes": sync.counters.bytes,
        "deleted": sync.counters.deleted,
        "failures": sync.counters.failures,
        "last_run": sync.last_run.isoformat() if sync.last_run else None,
        "last_success": sync.last_success.isoformat() if sync.last_success else None,
        "last_error": sync.last_error,
        "last_remote_date": sync.last_remote_date.isoformat() if sync.last_remote_date else None,
        "lag_seconds": sync.lag_seconds,
        "throughput": round(sync.last_rate, 1),
        "current_source": sync.source,
        "next_run": sync.next_run.isoformat() if sync.next_run else None,
        "source_ranking": [
            {"url": url, "success_rate": round(state.success_rate, 3),
             "products_per_s": round(state.rate, 1), "successes": state.successes,
             "failures": state.failures, "tier": state.tier, "last_error": state.last_error}
            for url in sync.ranked_sources()
            for state in (sync.source_state(url),)
        ],
    }  # fmt: skip


@click.group()
def sync() -> None:
    """Mirror products from remote hubs (CDSE-style OData or DHuS OData v1: eohub, DHuS, CDSE)."""


@sync.command("add")
@click.argument("label")
@click.option(
    "--source", "sources", required=True, multiple=True,
    help="Remote hub URL: its base or /odata/v1 (DHuS OData v1), or /catalogue/odata/v1 "
    "(CDSE-style). Repeat for more sources: failover, ranked by measured success and speed.",
)  # fmt: skip
@click.option(
    "--protocol", type=click.Choice([p.value for p in SourceProtocol]),
    help="Source API (default: cdse for a /catalogue/odata/v1 URL, else dhus).",
)  # fmt: skip
@click.option(
    "--serve-value", type=click.Choice([v.value for v in ValueServing]), default="none",
    show_default=True,
    help="Metadata-only: answer $value by redirecting or proxying to the source.",
)  # fmt: skip
@click.option("--user", "username", help="User name on the remote hub.")
@click.option("--password", help="Password on the remote hub.")
@click.option("--token", help="Bearer token instead of a user name and password.")
@click.option("--filter", "filter_", help="Only products matching this query.")
@click.option(
    "--filter-language", type=click.Choice([f.value for f in FilterLanguage]),
    default="odata", show_default=True, help="Language of --filter (OData $filter or DHuS q=).",
)  # fmt: skip
@click.option(
    "--geofilter", nargs=2, metavar="OP WKT",
    help="Only products whose footprint OP (intersects|within|contains) the WKT geometry.",
)  # fmt: skip
@click.option("--copy/--metadata-only", default=False, help="Copy the bytes (default: metadata).")
@click.option("--collection", help="Only products of this remote collection.")
@click.option("--page-size", type=int, default=100, show_default=True)
@click.option("--streams", type=int, default=4, show_default=True, help="Parallel downloads.")
@click.option("--no-quicklooks", is_flag=True, help="Do not copy quicklooks and thumbnails.")
@click.option("--keep-deleted", is_flag=True, help="Do not apply the remote's deletions here.")
@click.option(
    "--schedule",
    help="How often a serving hub runs it: 30s, 5m, 1h, 1d (cron text with croniter).",
)
@click.pass_context
def sync_add(
    ctx: click.Context, label: str, sources: tuple[str, ...], protocol: str | None,
    serve_value: str, username: str | None, password: str | None,
    token: str | None, filter_: str | None, filter_language: str,
    geofilter: tuple[str, str] | None, copy: bool, collection: str | None, page_size: int,
    streams: int, no_quicklooks: bool, keep_deleted: bool, schedule: str | None,
) -> None:  # fmt: skip
    """Create synchroniser LABEL (running, from the remote's first product)."""
    definition = SyncDefinition(
        label=label, url=sources[0], sources=sources[1:],
        protocol=SourceProtocol(protocol) if protocol else None,
        value=ValueServing(serve_value), username=username, password=password, token=token,
        mode=SyncMode.COPY if copy else SyncMode.METADATA, filter=filter_,
        filter_language=FilterLanguage(filter_language),
        geofilter=" ".join(geofilter) if geofilter else None, collection=collection,
        page_size=page_size, streams=streams, quicklooks=not no_quicklooks,
        deletions=not keep_deleted, schedule=schedule,
    )  # fmt: skip
    with _service(ctx) as service:
        added = service.add(definition)
    click.echo(f"synchroniser {added.id} '{label}' added")


@sync.command("list")
@click.pass_context
def sync_list(ctx: click.Context) -> None:
    """One line per synchroniser: id, label, status, mode, products, lag, rate, source."""
    with _service(ctx) as service:
        for s in service.list_all():
            error = f"  error: {s.last_error}" if s.last_error else ""
            lag = "lag ?" if s.lag_seconds is None else f"lag {s.lag_seconds:.0f}s"
            click.echo(
                f"{s.id}\t{s.definition.label}\t{s.status.value}\t{s.definition.mode.value}\t"
                f"{s.counters.products} products\t{lag}\t{s.last_rate:.0f}/s\t"
                f"{s.source or s.definition.url}{error}"
            )


@sync.command("show")
@click.argument("ref")
@click.pass_context
def sync_show(ctx: click.Context, ref: str) -> None:
    """Print synchroniser REF (Id or label) as JSON, secrets masked."""
    with _service(ctx) as service:
        click.echo(json.dumps(_as_dict(service.get(ref)), indent=2))


@sync.command("pause")
@click.argument("ref")
@click.pass_context
def sync_pause(ctx: click.Context, ref: str) -> None:
    """Stop running synchroniser REF."""
    with _service(ctx) as service:
        service.pause(ref)
    click.echo(f"synchroniser '{ref}' paused")


@sync.command("resume")
@click.argument("ref")
@click.pass_context
def sync_resume(ctx: click.Context, ref: str) -> None:
    """Run synchroniser REF again from where it stopped."""
    with _service(ctx) as service:
        service.resume(ref)
    click.echo(f"synchroniser '{ref}' resumed")


@sync.command("remove")
@click.argument("ref")
@click.pass_context
def sync_remove(ctx: click.Context, ref: str) -> None:
    """Delete synchroniser REF (the products it catalogued stay)."""
    with _service(ctx) as service:
        service.remove(ref)
    click.echo(f"synchroniser '{ref}' removed")


@sync.command("run")
@click.argument("ref", required=False)
@click.option("--once", is_flag=True, help="One page of each synchroniser, not until caught up.")
@click.pass_context
def sync_run(ctx: click.Context, ref: str | None, once: bool) -> None:
    """Run synchroniser REF, or every running one (each in its own thread), until caught up."""
    max_pages = 1 if once else 100_000
    with _service(ctx) as service:
        reports = (
            [service.run(ref, max_pages=max_pages)] if ref else service.run_all(max_pages=max_pages)
        )
    failed = False
    for r in reports:
        rate = r.catalogued / r.seconds if r.seconds else 0.0
        click.echo(
            f"{r.label}: {r.catalogued} catalogued, {r.deleted} deleted, {r.bytes} bytes, "
            f"{r.pages} pages in {r.seconds:.1f}s ({rate:.0f} products/s)"
            + (f", {r.failovers} failover(s), ended on {r.source}" if r.failovers else "")
        )
        if r.error and r.error != "paused":
            failed = True
            click.echo(f"{r.label}: {r.error}", err=True)
    if failed:
        raise SystemExit(1)
