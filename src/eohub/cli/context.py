"""What every command shares: the settings chosen by the global options."""

from __future__ import annotations

from typing import Any

import click

from eohub.config import Settings, load_settings


def settings_of(ctx: click.Context) -> Settings:
    """The settings (read once per invocation); configuration errors end the command."""
    obj: dict[str, Any] = ctx.ensure_object(dict)
    if "settings" not in obj:
        try:
            obj["settings"] = load_settings(obj.get("config"))
        except (FileNotFoundError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    settings: Settings = obj["settings"]
    return settings
