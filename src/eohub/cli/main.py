"""The ``eohub`` command: serve, ingest, fsck, demo, config, db (users: ``cli.users``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import click

from eohub import __version__
from eohub.cli.context import settings_of as _settings
from eohub.cli.evict import evict
from eohub.cli.sync import sync
from eohub.cli.users import user
from eohub.errors import HubError
from eohub.ingest.pipeline import IngestResult, IngestSummary, Outcome


@click.group()
@click.version_option(__version__, prog_name="eohub")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data folder (default ./eohub-data; env EOHUB_DATA_DIR).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML configuration file (env EOHUB_CONFIG).",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, config_file: Path | None) -> None:
    """eohub: an Earth-observation data hub."""
    ctx.ensure_object(dict)
    if data_dir is not None:
        os.environ["EOHUB_DATA_DIR"] = str(data_dir)
    ctx.obj["config"] = config_file


@main.command()
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Port (default 8080).")
@click.option("--workers", type=int, help="Worker processes (default 1).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the hub's HTTP server (uvicorn)."""
    import uvicorn

    settings = _settings(ctx)
    from eohub.wiring import bootstrap_administrator, build_hub

    hub = build_hub(settings)  # migrate once before the workers start
    try:
        bootstrap_administrator(hub)
    finally:
        hub.close()
    uvicorn.run(
        "eohub.api.app:create_app",
        factory=True,
        host=host or settings.server.host,
        port=port or settings.server.port,
        workers=workers or settings.server.workers,
        log_level="info",
    )


@main.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective settings as JSON (secrets masked)."""
    click.echo(json.dumps(_settings(ctx).public_dict(), indent=2, default=str))


@main.group()
def db() -> None:
    """Catalogue database maintenance."""


@db.command("migrate")
@click.pass_context
def db_migrate(ctx: click.Context) -> None:
    """Create or upgrade the catalogue schema."""
    from eohub.wiring import build_hub

    hub = build_hub(_settings(ctx), migrate=True)
    hub.close()
    click.echo("catalogue schema is up to date")


def _print_result(result: IngestResult) -> None:
    if result.outcome is Outcome.REJECTED:
        click.echo(f"rejected {result.path}: {result.reason}", err=True)


def _print_summary(summary: IngestSummary) -> None:
    click.echo(
        f"{summary.ingested} ingested, {summary.replaced} replaced, "
        f"{summary.duplicates} duplicates, {len(summary.rejected)} rejected"
    )


def _compile_pattern(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> re.Pattern[str] | None:
    if value is None:
        return None
    try:
        return re.compile(value)
    except re.error as exc:
        raise click.BadParameter(f"not a regular expression: {exc}") from None


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--watch",
    "watch_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Keep scanning this incoming folder.",
)
@click.option(
    "--pattern",
    callback=_compile_pattern,
    help="Regular expression on product file names (with --watch).",
)
@click.option("--delete-source", is_flag=True, help="Delete a watched source after success.")
@click.option(
    "--move-to",
    type=click.Path(file_okay=False, path_type=Path),
    help="Move a watched source here after success.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds between scans (with --watch).",
)
@click.option(
    "--max-scans", type=click.IntRange(min=1), help="Stop after this many scans (with --watch)."
)
@click.option(
    "--quarantine",
    type=click.Path(file_okay=False, path_type=Path),
    help="Move rejected inputs to this folder.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    default=2,
    show_default=True,
    help="Products ingested in parallel (processes for large batches, else threads).",
)
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    watch_dir: Path | None,
    pattern: re.Pattern[str] | None,
    delete_source: bool,
    move_to: Path | None,
    interval: float,
    max_scans: int | None,
    quarantine: Path | None,
    workers: int,
) -> None:
    """Ingest products (SAFE/SEN3 folders or zips, netCDF); folders are scanned recursively.

    Exits 0 when every product was ingested or was a duplicate, 1 if any was rejected.
    """
    from eohub.cli.ingest_pool import ingest_in_processes, use_processes
    from eohub.ingest.pipeline import find_products
    from eohub.ingest.watch import WatchOptions, watch
    from eohub.wiring import build_hub

    if not paths and watch_dir is None:
        raise click.UsageError("give product paths, or --watch DIR")
    settings = _settings(ctx)
    if quarantine is not None:
        settings.ingest.quarantine = quarantine
    hub = build_hub(settings)
    try:
        ingestor = hub.ingestor()
        inputs = list(find_products(paths))
        show_bar = sys.stderr.isatty() and len(inputs) > 1
        with click.progressbar(
            length=len(inputs), label="ingesting", file=sys.stderr, hidden=not show_bar
        ) as bar:

            def on_result(result: IngestResult) -> None:
                bar.update(1)
                _print_result(result)

            if use_processes(len(inputs), workers):
                summary = ingest_in_processes(settings, inputs, workers, on_result)
            else:
                summary = ingestor.ingest_all(inputs, workers=workers, on_result=on_result)
        if watch_dir is not None:
            options = WatchOptions(
                folder=watch_dir,
                pattern=pattern,
                delete_source=delete_source,
                move_to=move_to,
                interval_s=interval,
                max_scans=max_scans,
            )
            watched = watch(ingestor, options, on_result=_print_result)
            summary.ingested += watched.ingested
            summary.replaced += watched.replaced
            summary.duplicates += watched.duplicates
            summary.rejected += watched.rejected
    finally:
        hub.close()
    _print_summary(summary)
    if not summary.ok:
        sys.exit(1)


@main.command()
@click.option(
    "--repair",
    is_flag=True,
    help="Remove orphan bytes and partial uploads, mark products whose bytes are missing offline.",
)
@click.pass_context
def fsck(ctx: click.Context, repair: bool) -> None:
    """Check that catalogue and archive agree. Run --repair while no ingest is running."""
    from eohub.maintenance.fsck import fsck as run_fsck
    from eohub.wiring import build_hub

    settings = _settings(ctx)
    hub = build_hub(settings)
    try:
        report = run_fsck(
            hub.catalogue, hub.store, repair=repair, downloads=settings.downloads_path,
            stale_after=settings.sync.stale_download_hours * 3600,
        )  # fmt: skip
    finally:
        hub.close()
    verb = "removed" if repair else "found"
    click.echo(f"{report.products} products, {report.objects} archived objects")
    click.echo(f"orphan objects {verb}: {len(report.orphans)}")
    for key in report.orphans[:20]:
        click.echo(f"  {key}")
    marked = " (now offline)" if repair else ""
    click.echo(f"products with missing bytes{marked}: {len(report.missing)}")
    for pid in report.missing[:20]:
        click.echo(f"  {pid}")
    click.echo(
        f"stale partial downloads {verb}: {len(report.stale_downloads)} "
        f"({report.stale_download_bytes} bytes)"
    )
    click.echo(f"zipped products without file checksums: {report.files.missing}")
    if repair:
        click.echo(f"partial uploads removed: {report.partials_removed}")
        click.echo(f"product documents stored: {report.documents_stored}")
        click.echo(f"file checksums stored: {report.files.stored}")
        for pid in report.files.failed[:20]:
            click.echo(f"  unreadable: {pid}")
    if not report.clean and not repair:
        sys.exit(1)


@main.command()
@click.option(
    "--products",
    "count",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Number of synthetic products to make and ingest.",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.pass_context
def demo(ctx: click.Context, count: int, seed: int) -> None:
    """Make synthetic Sentinel-1/2/3/5P products (real formats) and ingest them."""
    from eohub.demo.factory import demo_products
    from eohub.wiring import build_hub

    settings = _settings(ctx)
    incoming = settings.data_dir / "demo-products"
    click.echo(f"making {count} demo products in {incoming}")
    shutil.rmtree(incoming, ignore_errors=True)  # deterministic: the same products again
    paths = demo_products(count, incoming, seed=seed)
    hub = build_hub(settings)
    try:
        summary = hub.ingestor().ingest_all(paths, workers=2, on_result=_print_result)
    finally:
        hub.close()
    _print_summary(summary)
    if not summary.ok:
        sys.exit(1)


main.add_command(user)
main.add_command(sync)
main.add_command(evict)


def run() -> None:
    """Entry point that turns domain errors into one clear line and a non-zero exit."""
    try:
        main(standalone_mode=True)
    except HubError as exc:
        click.echo(f"error: {exc.user_message}", err=True)
        sys.exit(1)
