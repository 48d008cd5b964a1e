"""The ``eohub`` command: serve, config, db, demo (ingest, user, sync... come with their issues)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from eohub import __version__
from eohub.config import Settings, load_settings
from eohub.errors import HubError


def _settings(ctx: click.Context) -> Settings:
    obj: dict[str, Any] = ctx.ensure_object(dict)
    if "settings" not in obj:
        try:
            obj["settings"] = load_settings(obj.get("config"))
        except (FileNotFoundError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    settings: Settings = obj["settings"]
    return settings


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
    from eohub.wiring import build_hub

    build_hub(settings).close()  # migrate once before the workers start
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


@main.command()
@click.option(
    "--records",
    type=int,
    default=2000,
    show_default=True,
    help="Number of generated catalogue records.",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.pass_context
def demo(ctx: click.Context, records: int, seed: int) -> None:
    """Fill the catalogue with generated metadata records (no product files; marked offline)."""
    from eohub.demo.records import generate_products
    from eohub.wiring import build_hub

    hub = build_hub(_settings(ctx))
    try:
        batch = []
        written = 0
        for product in generate_products(records, seed=seed):
            batch.append(product.evolve(online=False))
            if len(batch) == 1000:
                written += hub.catalogue.upsert(batch)
                batch.clear()
        if batch:
            written += hub.catalogue.upsert(batch)
    finally:
        hub.close()
    click.echo(f"{written} demo records in the catalogue")


def run() -> None:
    """Entry point that turns domain errors into one clear line and a non-zero exit."""
    try:
        main(standalone_mode=True)
    except HubError as exc:
        click.echo(f"error: {exc.user_message}", err=True)
        sys.exit(1)
