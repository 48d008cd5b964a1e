"""``eohub sync``: add, edit, list, show, pause, resume, remove and run synchronisers, and
retry the products on their skip lists."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

import click

from eohub.cli.context import settings_of
from eohub.errors import HubError
from eohub.sync import SyncDefinition, Synchroniser, SyncMode, SyncService
from eohub.sync.model import (
    FilterLanguage,
    SourceLogin,
    SourceProtocol,
    ValueServing,
    VerifyMode,
    masked,
)
from eohub.sync.schedule import planned_run
from eohub.sync.service import with_credentials


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


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


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
        "password": masked(d.password),
        "token": masked(d.token),
        "token_url": d.token_url,
        "client_id": d.client_id if d.token_url else None,
        "source_logins": [asdict(s.shown()) for s in d.source_logins],
        "mode": d.mode.value,
        "filter": d.filter,
        "filter_language": d.filter_language.value,
        "geofilter": d.geofilter,
        "collection": d.collection,
        "page_size": d.page_size,
        "streams": d.streams,
        "deletions": d.deletions,
        "schedule": d.schedule,
        "source_window": d.source_window,
        "max_failures": d.max_failures,
        "verify": d.verify.value,
        "file_checksums": d.file_checksums,
        "status": sync.status.value,
        "cursor": {"time_ms": c.time_ms, "bucket": c.bucket, "after_id": c.after_id},
        "products": sync.counters.products,
        "bytes": sync.counters.bytes,
        "deleted": sync.counters.deleted,
        "failures": sync.counters.failures,
        "skipped": sync.skipped,
        "last_run": sync.last_run.isoformat() if sync.last_run else None,
        "last_success": sync.last_success.isoformat() if sync.last_success else None,
        "last_error": sync.last_error,
        "last_remote_date": sync.last_remote_date.isoformat() if sync.last_remote_date else None,
        "lag_seconds": sync.lag_seconds,
        "throughput": round(sync.last_rate, 1),
        "current_source": sync.source,
        "next_run": _when(planned_run(sync)),
        "source_ranking": [
            {"url": url, "success_rate": round(state.success_rate, 3),
             "products_per_s": round(state.rate, 1), "successes": state.successes,
             "failures": state.failures, "tier": state.tier, "rolling_window": state.window,
             "last_error": state.last_error}
            for url in sync.ranked_sources()
            for state in (sync.source_state(url),)
        ],
    }  # fmt: skip


_SOURCE_LOGIN_HELP = (
    "A user name and password of one source, instead of the synchroniser's own (repeatable); "
    "sent to the source itself."
)


def _logins(
    kept: tuple[SourceLogin, ...],
    passwords: tuple[tuple[str, str, str], ...],
    tokens: tuple[tuple[str, str], ...],
    token_urls: tuple[tuple[str, str], ...] = (),
) -> tuple[SourceLogin, ...]:
    """``kept`` with the logins given added or replacing theirs (by source URL), then the
    token URLs given set on the logins of their sources ('' removes one)."""
    given = [SourceLogin(url, user, password) for url, user, password in passwords]
    given += [SourceLogin(url, token=token) for url, token in tokens]
    urls = {login.url for login in given}
    logins = {login.url: login for login in (*(x for x in kept if x.url not in urls), *given)}
    for url, token_url in token_urls:
        if url not in logins:
            raise click.UsageError(f"--source-token-url {url}: that source has no login of its "
                                   "own (give --source-login URL USER PASSWORD)")  # fmt: skip
        logins[url] = replace(logins[url], token_url=token_url or None)
    return tuple(logins.values())


_SOURCE_TOKEN_URL_HELP = (
    "The OpenID Connect token endpoint of one source's own login (repeatable; '' removes it): "
    "its --source-login user name and password get access tokens there."
)


def _source_login_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options giving single sources logins of their own (``sync add`` and ``edit``)."""
    options = (
        click.option("--source-login", "source_logins", nargs=3, multiple=True,
                     metavar="URL USER PASSWORD", help=_SOURCE_LOGIN_HELP),
        click.option("--source-token", "source_tokens", nargs=2, multiple=True,
                     metavar="URL TOKEN", help="A bearer token of one source (repeatable)."),
        click.option("--source-token-url", "source_token_urls", nargs=2, multiple=True,
                     metavar="URL TOKEN_URL", help=_SOURCE_TOKEN_URL_HELP),
    )  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


_TOKEN_URL_HELP = (
    "OpenID Connect token endpoint (CDSE: https://identity.dataspace.copernicus.eu/auth/realms/"
    "CDSE/protocol/openid-connect/token): --user/--password get access tokens there, sent as "
    "Bearer and renewed before they expire."
)
_VERIFY_HELP = (
    "Copy mode: the checksums computed on the bytes received. all: MD5 and BLAKE3, each "
    "compared with the source's. blake3: where the source lists both, only BLAKE3 (a stronger "
    "check, a third of the CPU) and the source's MD5 kept."
)
_FILES_HELP = (
    "Copy mode: compute the checksums of the files inside each copied zip once it is stored "
    "(one more read of its bytes), as ingest keeps them."
)
_WINDOW_HELP = (
    "The sources' rolling window (30d, P30D) shown at /api/hubs when a source does not "
    "report its own."
)


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
@click.option("--token-url", help=_TOKEN_URL_HELP)
@click.option("--client-id", default="cdse-public", show_default=True,
              help="OpenID Connect client of --token-url's password grant.")  # fmt: skip
@_source_login_options
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
    help="When a serving hub runs it: every 30s, 5m, 1h, 1d, or at the times of a cron "
    "expression in UTC ('*/15 * * * *', '0 3 * * *', @hourly, @daily).",
)
@click.option("--source-window", help=_WINDOW_HELP)
@click.option(
    "--max-failures", type=int, default=5, show_default=True,
    help="Failed runs of one product before it goes on the skip list; 0: never skip.",
)  # fmt: skip
@click.option("--verify", type=click.Choice([m.value for m in VerifyMode]), default="all",
              show_default=True, help=_VERIFY_HELP)  # fmt: skip
@click.option("--file-checksums", is_flag=True, help=_FILES_HELP)
@click.pass_context
def sync_add(
    ctx: click.Context, label: str, sources: tuple[str, ...], protocol: str | None,
    serve_value: str, username: str | None, password: str | None,
    token: str | None, token_url: str | None, client_id: str,
    source_logins: tuple[tuple[str, str, str], ...], source_tokens: tuple[tuple[str, str], ...],
    source_token_urls: tuple[tuple[str, str], ...], filter_: str | None, filter_language: str,
    geofilter: tuple[str, str] | None, copy: bool, collection: str | None, page_size: int,
    streams: int, no_quicklooks: bool, keep_deleted: bool, schedule: str | None,
    source_window: str | None, max_failures: int, verify: str, file_checksums: bool,
) -> None:  # fmt: skip
    """Create synchroniser LABEL (running, from the remote's first product)."""
    definition = SyncDefinition(
        label=label, url=sources[0], sources=sources[1:],
        protocol=SourceProtocol(protocol) if protocol else None,
        value=ValueServing(serve_value), username=username, password=password, token=token,
        token_url=token_url, client_id=client_id,
        source_logins=_logins((), source_logins, source_tokens, source_token_urls),
        mode=SyncMode.COPY if copy else SyncMode.METADATA, filter=filter_,
        filter_language=FilterLanguage(filter_language),
        geofilter=" ".join(geofilter) if geofilter else None, collection=collection,
        page_size=page_size, streams=streams, quicklooks=not no_quicklooks,
        deletions=not keep_deleted, schedule=schedule, source_window=source_window,
        max_failures=max_failures, verify=VerifyMode(verify), file_checksums=file_checksums,
    )  # fmt: skip
    with _service(ctx) as service:
        added = service.add(definition)
    click.echo(f"synchroniser {added.id} '{label}' added")


@sync.command("edit")
@click.argument("ref")
@click.option("--label", help="A new label.")
@click.option("--source", "sources", multiple=True,
              help="Replace the source URLs (repeat for several, best first).")  # fmt: skip
@click.option("--protocol", type=click.Choice([*(p.value for p in SourceProtocol), "auto"]),
              help="Source API; auto: from the first URL.")  # fmt: skip
@click.option("--serve-value", type=click.Choice([v.value for v in ValueServing]))
@click.option("--user", "username", help="User name (replaces a token; '' removes it).")
@click.option("--password", help="Password for the user name.")
@click.option("--token", help="Bearer token (replaces the user name and password).")
@click.option("--token-url", help="A new OpenID Connect token URL ('' removes it).")
@click.option("--client-id", help="A new OpenID Connect client id.")
@_source_login_options
@click.option(
    "--no-source-login",
    "forget_logins",
    multiple=True,
    metavar="URL",
    help="The source uses the synchroniser's own credentials again (repeatable).",
)
@click.option("--filter", "filter_", help="A new filter ('' removes it).")
@click.option("--filter-language", type=click.Choice([f.value for f in FilterLanguage]))
@click.option("--geofilter", nargs=2, metavar="OP WKT", help="A new geofilter.")
@click.option("--no-geofilter", is_flag=True, help="Remove the geofilter.")
@click.option("--copy/--metadata-only", default=None, help="Copy the bytes, or metadata only.")
@click.option("--collection", help="Only this remote collection ('' removes it).")
@click.option("--page-size", type=int)
@click.option("--streams", type=int, help="Parallel downloads.")
@click.option("--quicklooks/--no-quicklooks", default=None)
@click.option("--deletions/--keep-deleted", default=None,
              help="Apply the remote's deletions here, or not.")  # fmt: skip
@click.option("--schedule", help="A new schedule ('' runs it by hand only).")
@click.option("--source-window", help="The sources' rolling window ('' forgets it).")
@click.option("--max-failures", type=int, help="Failed runs before a product is skipped.")
@click.option("--verify", type=click.Choice([m.value for m in VerifyMode]), help=_VERIFY_HELP)
@click.option("--file-checksums/--no-file-checksums", default=None, help=_FILES_HELP)
@click.pass_context
def sync_edit(ctx: click.Context, /, ref: str, **options: Any) -> None:
    """Change synchroniser REF: only the options given change; its cursors, records and the
    products it catalogued stay. Nothing changes when the result is refused."""
    changes = _edits(options)
    credentials = {k: options[k] for k in ("username", "password", "token")
                   if options[k] is not None}  # fmt: skip
    logins = (options["source_logins"] or options["source_tokens"] or options["forget_logins"]
              or options["source_token_urls"])  # fmt: skip
    if not changes and not credentials and not logins:
        raise click.UsageError("nothing to change: give at least one option")
    with _service(ctx) as service:
        sync = service.get(ref)
        definition = with_credentials(replace(sync.definition, **changes), **credentials)
        kept = tuple(
            s
            for s in definition.source_logins
            if s.url in definition.urls and s.url not in options["forget_logins"]
        )
        definition = replace(definition, source_logins=_logins(
            kept, options["source_logins"], options["source_tokens"],
            options["source_token_urls"]))  # fmt: skip
        changed = service.update(sync.id, definition)
    click.echo(f"synchroniser {changed.id} '{changed.definition.label}' changed")


# ``eohub sync edit`` options taken as given -> the definition fields they set.
_AS_GIVEN = (
    ("label", "label"), ("filter_", "filter"), ("collection", "collection"),
    ("page_size", "page_size"), ("streams", "streams"), ("schedule", "schedule"),
    ("source_window", "source_window"), ("max_failures", "max_failures"),
    ("token_url", "token_url"), ("client_id", "client_id"),
)  # fmt: skip


def _edits(options: dict[str, Any]) -> dict[str, Any]:
    """The definition fields ``eohub sync edit`` options change."""
    changes: dict[str, Any] = {}
    for option, field in _AS_GIVEN:
        if options[option] is not None:
            changes[field] = options[option]
    if options["sources"]:
        changes["url"], changes["sources"] = options["sources"][0], options["sources"][1:]
    if options["protocol"] is not None:
        auto = options["protocol"] == "auto"
        changes["protocol"] = None if auto else SourceProtocol(options["protocol"])
    if options["serve_value"] is not None:
        changes["value"] = ValueServing(options["serve_value"])
    if options["filter_language"] is not None:
        changes["filter_language"] = FilterLanguage(options["filter_language"])
    if options["geofilter"]:
        changes["geofilter"] = " ".join(options["geofilter"])
    elif options["no_geofilter"]:
        changes["geofilter"] = None
    if options["copy"] is not None:
        changes["mode"] = SyncMode.COPY if options["copy"] else SyncMode.METADATA
    if options["quicklooks"] is not None:
        changes["quicklooks"] = options["quicklooks"]
    if options["deletions"] is not None:
        changes["deletions"] = options["deletions"]
    if options["verify"] is not None:
        changes["verify"] = VerifyMode(options["verify"])
    if options["file_checksums"] is not None:
        changes["file_checksums"] = options["file_checksums"]
    return changes


@sync.command("list")
@click.pass_context
def sync_list(ctx: click.Context) -> None:
    """One line per synchroniser: id, label, status, mode, products, lag, rate, next run
    (UTC), source."""
    with _service(ctx) as service:
        for s in service.list_all():
            error = f"  error: {s.last_error}" if s.last_error else ""
            lag = "lag ?" if s.lag_seconds is None else f"lag {s.lag_seconds:.0f}s"
            planned = planned_run(s)
            if planned is not None:
                upcoming = f"next {planned:%Y-%m-%dT%H:%M:%SZ}"
            else:
                upcoming = "next: paused" if s.definition.schedule else "next: by hand"
            click.echo(
                f"{s.id}\t{s.definition.label}\t{s.status.value}\t{s.definition.mode.value}\t"
                f"{s.counters.products} products\t{lag}\t{s.last_rate:.0f}/s\t{upcoming}\t"
                f"{s.source or s.definition.url}{error}"
            )


@sync.command("show")
@click.argument("ref")
@click.pass_context
def sync_show(ctx: click.Context, ref: str) -> None:
    """Print synchroniser REF (Id or label) as JSON, secrets masked, with its failed products:
    on the skip list (skipped), queued by ``retry`` (retry), or holding it back (failing)."""
    with _service(ctx) as service:
        shown = _as_dict(service.get(ref))
        shown["failed_products"] = [
            {"id": str(f.product_id), "name": f.name, "state": f.state.value,
             "failures": f.failures, "last_error": f.last_error,
             "first_failed": _when(f.first_failed), "last_failed": _when(f.last_failed)}
            for f in service.failed_products(ref)
        ]  # fmt: skip
        click.echo(json.dumps(shown, indent=2))


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
            + (f", {r.skipped} put on the skip list" if r.skipped else "")
        )
        for failure in r.retry_failures[:20]:
            click.echo(f"{r.label}: retried, failed again: {failure}", err=True)
        if r.error and r.error != "paused":
            failed = True
            click.echo(f"{r.label}: {r.error}", err=True)
    if failed:
        raise SystemExit(1)


@sync.command("retry")
@click.argument("ref")
@click.option("--product", "product_id", type=click.UUID, help="Only this product (its Id).")
@click.pass_context
def sync_retry(ctx: click.Context, ref: str, product_id: uuid.UUID | None) -> None:
    """Take the products on synchroniser REF's skip list off it and try them now (a paused
    synchroniser tries them when resumed); one that fails again stays queued for its next
    runs. Exit 1 when one failed again."""
    with _service(ctx) as service:
        queued, report = service.retry(ref, product_id)
    label = report.label
    if not queued:
        click.echo(f"{label}: no product on the skip list")
        return
    click.echo(f"{label}: {queued} product(s) taken off the skip list, {report.catalogued} "
               f"catalogued now")  # fmt: skip
    if report.error == "paused":
        click.echo(f"{label}: paused: they are tried when it is resumed")
        return
    for failure in report.retry_failures[:20]:
        click.echo(f"{label}: failed again (tried again by the next runs): {failure}", err=True)
    if report.skipped:
        click.echo(f"{label}: {report.skipped} back on the skip list", err=True)
    if report.error:
        click.echo(f"{label}: {report.error}", err=True)
    if report.error or report.retry_failures or report.skipped:
        raise SystemExit(1)
