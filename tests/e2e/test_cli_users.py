"""``eohub user ...`` as administrators run it, checked through the account service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from eohub.config import Settings
from eohub.errors import Forbidden, Unauthenticated
from eohub.model import Role
from eohub.wiring import build_hub

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    env = {**os.environ, "EOHUB_DATA_DIR": str(tmp_path / "data")}

    def go(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "eohub", "user", *args],
            capture_output=True, text=True, timeout=120, env=env, input=stdin, check=False,
        )  # fmt: skip

    return go


def _authenticate(tmp_path: Path, name: str, password: str) -> frozenset[Role]:
    hub = build_hub(Settings(data_dir=tmp_path / "data"))
    try:
        return hub.accounts.authenticate(name, password).roles
    finally:
        hub.close()


def test_add_list_roles_passwd_lock_unlock_remove(run: Run, tmp_path: Path) -> None:
    added = run("add", "alice", "--password", "first-password", "--role", "SEARCH",
                "--role", "Data_Manager", "--email", "alice@example.org")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert _authenticate(tmp_path, "alice", "first-password") == {
        Role.SEARCH,
        Role.DATA_MANAGER,
    }
    listed = json.loads(run("list", "--json").stdout)
    assert [(u["username"], u["email"], u["locked"]) for u in listed] == [
        ("alice", "alice@example.org", False)
    ]
    roles = run("roles", "alice", "--add", "download", "--remove", "data_manager")
    assert roles.returncode == 0 and roles.stdout.strip() == "alice: download, search"
    assert run("passwd", "alice", "--password", "second-password").returncode == 0
    with pytest.raises(Unauthenticated):
        _authenticate(tmp_path, "alice", "first-password")
    assert run("lock", "alice", "--reason", "audit").returncode == 0
    with pytest.raises(Forbidden, match="audit"):
        _authenticate(tmp_path, "alice", "second-password")
    assert run("unlock", "alice").returncode == 0
    assert _authenticate(tmp_path, "alice", "second-password") == {Role.SEARCH, Role.DOWNLOAD}
    quota = run("quota", "alice", "--max-concurrent", "2", "--max-count", "50")
    assert quota.returncode == 0 and '"max_count": 50' in quota.stdout
    shown = json.loads(run("show", "alice").stdout)
    assert shown["quota"]["max_concurrent"] == 2
    assert run("remove", "alice", "--yes").returncode == 0
    assert json.loads(run("list", "--json").stdout) == []


def test_the_password_can_be_typed_at_the_prompt(run: Run, tmp_path: Path) -> None:
    added = run("add", "bob", stdin="typed-password\ntyped-password\n")
    assert added.returncode == 0, added.stderr
    assert _authenticate(tmp_path, "bob", "typed-password") == {Role.SEARCH, Role.DOWNLOAD}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "carol", "--password", "short"), "8 to 1024"),
        (("add", "bad name", "--password", "long-enough"), "invalid username"),
        (("add", "carol", "--password", "long-enough", "--role", "pilot"), "unknown role"),
        (("lock", "nobody"), "User 'nobody' not found"),
        (("passwd", "nobody", "--password", "long-enough"), "User 'nobody' not found"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(
    run: Run, args: tuple[str, ...], message: str
) -> None:
    assert run("add", "dave", "--password", "dave-password").returncode == 0
    result = run(*args)
    assert result.returncode != 0 and message in result.stderr
    assert [u["username"] for u in json.loads(run("list", "--json").stdout)] == ["dave"]


def test_a_taken_name_is_refused(run: Run) -> None:
    assert run("add", "erin", "--password", "erin-password").returncode == 0
    again = run("add", "ERIN", "--password", "other-password")
    assert again.returncode == 1 and "already exists" in again.stderr
