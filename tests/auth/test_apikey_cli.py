"""``eohub user apikey add|list|revoke`` on a real hub's account file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from eohub.cli.main import main as cli
from eohub.config import Settings
from eohub.wiring import build_hub


def test_add_list_use_and_revoke(tmp_path: Path) -> None:
    hub = build_hub(Settings(data_dir=tmp_path / "hub"))
    hub.accounts.create("carol", "carol-password")
    hub.close()
    env = {"EOHUB_DATA_DIR": str(tmp_path / "hub")}
    added = CliRunner().invoke(
        cli, ["user", "apikey", "add", "carol", "ci", "--days", "7"], env=env
    )
    assert added.exit_code == 0, added.output
    key = added.output.strip()
    assert key.startswith("eohub_")
    listed = CliRunner().invoke(cli, ["user", "apikey", "list", "carol", "--json"], env=env)
    rows = json.loads(listed.output)
    assert [r["name"] for r in rows] == ["ci"] and key not in listed.output
    assert rows[0]["expires"] is not None
    hub = build_hub(Settings(data_dir=tmp_path / "hub"))
    try:
        user = hub.api_keys.user_of(key)
        assert user is not None and user.username == "carol"
    finally:
        hub.close()
    twice = CliRunner().invoke(cli, ["user", "apikey", "add", "carol", "ci"], env=env)
    assert twice.exit_code != 0
    revoked = CliRunner().invoke(cli, ["user", "apikey", "revoke", "carol", "ci"], env=env)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    again = CliRunner().invoke(cli, ["user", "apikey", "revoke", "carol", "ci"], env=env)
    assert again.exit_code != 0
