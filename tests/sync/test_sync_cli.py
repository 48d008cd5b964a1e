"""``eohub sync`` as users run it: a real process pulling from a hub served on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import eohub_sync

from account_support import DOWNLOADER
from api.odata_support import build_odata_hub, live_server
from eohub.config import Settings
from eohub.query import Query
from eohub.wiring import build_hub


def test_add_run_show_pause_resume_and_remove(tmp_path: Path) -> None:
    up = build_odata_hub(tmp_path / "up", n=4)
    down = tmp_path / "down"
    try:
        with live_server(up.hub) as base:
            bad = eohub_sync(down, "add", "x", "--source", base, "--filter", "Nme eq 'a'")
            assert bad.returncode != 0 and "Nme" in bad.stderr
            added = eohub_sync(
                down, "add", "be", "--source", base, "--user", DOWNLOADER[0],
                "--password", DOWNLOADER[1], "--copy", "--page-size", "2", "--streams", "2",
            )  # fmt: skip
            assert added.returncode == 0, added.stderr
            run = eohub_sync(down, "run")
            assert run.returncode == 0, run.stderr
            assert "be: 5 catalogued" in run.stdout
            shown = json.loads(eohub_sync(down, "show", "be").stdout)
            assert shown["password"] == "***" and DOWNLOADER[1] not in json.dumps(shown)
            assert (shown["products"], shown["mode"], shown["status"]) == (5, "copy", "running")
            assert eohub_sync(down, "pause", "be").returncode == 0
            assert "paused" in eohub_sync(down, "list").stdout
            assert eohub_sync(down, "resume", "be").returncode == 0
            assert "be: 0 catalogued" in eohub_sync(down, "run", "be").stdout
            assert eohub_sync(down, "remove", "be").returncode == 0
            missing = eohub_sync(down, "show", "be")
            assert missing.returncode != 0 and "not found" in missing.stderr
    finally:
        up.hub.close()
    hub = build_hub(Settings(data_dir=down))  # type: ignore[call-arg]
    try:
        mirrored = hub.catalogue.search(Query(limit=100)).items
        assert {p.id for p in mirrored} == {p.id for p in up.products} | {up.offline.id}
    finally:
        hub.close()


def test_edit_changes_only_what_is_given(tmp_path: Path) -> None:
    data, source = tmp_path / "hub", "http://127.0.0.1:9/odata/v1"  # never contacted
    added = eohub_sync(data, "add", "be", "--source", source, "--user", "u", "--password", "pw",
                   "--filter", "startswith(Name,'S2')", "--page-size", "7")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert eohub_sync(data, "edit", "be").returncode != 0  # nothing to change
    bad = eohub_sync(data, "edit", "be", "--schedule", "sometimes", "--streams", "2")
    assert bad.returncode != 0 and "sometimes" in bad.stderr
    assert json.loads(eohub_sync(data, "show", "be").stdout)["streams"] == 4  # nothing changed
    changed = eohub_sync(
        data, "edit", "be", "--label", "be2", "--filter", "", "--streams", "2", "--copy",
        "--source", source, "--source", "http://127.0.0.1:10/odata/v1", "--source-window", "30d",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    shown = json.loads(eohub_sync(data, "show", "be2").stdout)
    assert (shown["filter"], shown["streams"], shown["mode"], shown["page_size"]) == (
        None, 2, "copy", 7)  # fmt: skip
    assert shown["sources"] == [source, "http://127.0.0.1:10/odata/v1"]
    assert (shown["username"], shown["password"], shown["source_window"]) == ("u", "***", "P30D")
    assert eohub_sync(data, "edit", "be2", "--token", "t0k").returncode == 0
    shown = json.loads(eohub_sync(data, "show", "be2").stdout)
    assert (shown["username"], shown["password"], shown["token"]) == (None, None, "***")
