"""Download items of a cart: only online products, safe and distinct file names, valid MD5s."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

from eohub.demo.records import generate_products
from eohub.model import Checksum
from eohub.workspace.downloads import download_items, safe_filename, wget_script


def test_only_online_products_with_bytes_are_listed() -> None:
    online, offline, unarchived = generate_products(3, seed=51)
    items = download_items([
        online.evolve(archive_key="p/a/S2_ONE.zip"),
        offline.evolve(online=False, archive_key="p/b/S2_TWO.zip"),
        unarchived.evolve(archive_key=None),
    ])  # fmt: skip
    assert [(i.name, i.path) for i in items] == [("S2_ONE.zip", f"/Products('{online.id}')/$value")]
    assert items[0].size == online.size and items[0].md5 == online.checksum("MD5")


def test_names_are_made_safe_and_distinct() -> None:
    assert safe_filename("$(touch pwned); rm -rf ~.zip", "x") == "__touch_pwned___rm_-rf__.zip"
    assert safe_filename("../../etc/passwd", "x") == "_.._etc_passwd"
    assert safe_filename("-n", "x") == "n" and safe_filename("...", "fallback") == "fallback"
    first, second = generate_products(2, seed=52)
    items = download_items([first.evolve(archive_key="a/`id`.zip"),
                            second.evolve(archive_key="b/_id_.zip")])  # fmt: skip
    assert [i.name for i in items] == ["_id_.zip", f"{second.id}-_id_.zip"]


def test_a_checksum_that_is_not_an_md5_is_not_used() -> None:
    product = next(iter(generate_products(1, seed=53)))
    odd = product.evolve(archive_key="a/b.zip", checksums=(Checksum("MD5", "not-hex; rm -rf /"),))
    [item] = download_items([odd])
    assert item.md5 is None
    script = wget_script([item], "http://127.0.0.1:1/odata/v1", owner="a", made=datetime.now(UTC))
    assert "rm -rf" not in script and "no checksum known for: b.zip" in script
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
