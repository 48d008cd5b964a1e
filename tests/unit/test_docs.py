"""The documentation names every queryable field, alias and setting (it cannot drift)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from eohub.config import Settings
from eohub.query.fields import FIELDS

ROOT = Path(__file__).resolve().parents[2]


def test_every_queryable_and_alias_is_documented() -> None:
    text = (ROOT / "docs" / "queryables.md").read_text()
    for field in FIELDS:
        assert f"`{field.name}`" in text, field.name
        for aliases in field.aliases.values():
            for alias in aliases:
                assert f"`{alias}`" in text, alias


def _setting_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _setting_names(annotation, f"{prefix}{name}.")
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for name in _setting_names(Settings):
        assert f"`{name}`" in text, f"setting {name} is not in docs/configuration.md"
