"""The synchronisers' HTTP side on real servers on 127.0.0.1: OData v1 ``Synchronizers`` CRUD
with role checks, Prometheus ``/metrics`` and the hub registry ``/api/hubs`` (with each
source's rolling window, reported by the source or configured)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from account_support import DOWNLOADER, add_downloader
from api.odata_support import OdataHub, build_odata_hub, live_server
from eohub.config import Settings
from eohub.model.user import Role
from eohub.sync.model import SourceLogin
from eohub.sync.policy import EvictionPolicy
from eohub.wiring import Hub, build_hub, build_sync

MANAGER = ("manager", "manager-password")
CSC = "/catalogue/odata/v1"
# One sample line of the text exposition format: name, optional labels, a float value.
_SAMPLE = re.compile(
    r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
    r"(-?(?:\d+(?:\.\d*)?(?:e[+-]?\d+)?|inf|nan))"
)


def parse_prometheus(text: str) -> dict[str, dict[str, float]]:
    """{metric: {labels text: value}}; every line must be a comment or a sample."""
    found: dict[str, dict[str, float]] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = _SAMPLE.fullmatch(line)
        assert match, f"not a Prometheus sample: {line!r}"
        found.setdefault(match[1], {})[match[2] or ""] = float(match[3])
    return found


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[OdataHub, str, Hub, str]]:
    up = build_odata_hub(tmp_path / "up", n=6)
    down = build_hub(Settings(data_dir=tmp_path / "down"))  # type: ignore[call-arg]
    add_downloader(down)
    down.accounts.create(*MANAGER, [Role.SEARCH, Role.DATA_MANAGER])
    try:
        with live_server(up.hub) as up_url, live_server(down) as down_url:
            yield up, up_url, down, down_url
    finally:
        down.close()
        up.hub.close()


def test_synchronizers_crud_needs_a_manager_role(
    served: tuple[OdataHub, str, Hub, str],
) -> None:
    up, up_url, down, url = served
    api = f"{url}/odata/v1/Synchronizers"
    entity = {"Label": "t0", "ServiceUrl": up_url + CSC, "ServiceLogin": DOWNLOADER[0],
              "ServicePassword": DOWNLOADER[1], "PageSize": 4, "Schedule": "10m"}  # fmt: skip
    assert httpx.get(api).status_code == 401
    assert httpx.get(api, auth=DOWNLOADER).status_code == 403
    assert httpx.post(api, json=entity, auth=DOWNLOADER).status_code == 403

    created = httpx.post(api, json={"d": entity}, auth=MANAGER)
    assert created.status_code == 201, created.text
    body = created.json()["d"]
    assert (body["Label"], body["Protocol"], body["ServicePassword"]) == ("t0", "cdse", "***")
    key = body["Id"]

    listed = httpx.get(api, auth=MANAGER).json()["d"]["results"]
    assert [s["Label"] for s in listed] == ["t0"]
    changed = httpx.patch(f"{api}({key})", json={"PageSize": 2, "Request": "stop"}, auth=MANAGER)
    assert changed.status_code == 204, changed.text
    one = httpx.get(f"{api}({key})", auth=MANAGER).json()["d"]
    assert (one["PageSize"], one["Request"], one["Status"]) == (2, "stop", "STOPPED")

    # Bad input gets an OData error document, never a 500.
    bad = httpx.patch(f"{api}({key})", json={"PageSize": 5000}, auth=MANAGER)
    assert bad.status_code == 400 and "page size is 1 to 1000" in bad.text
    assert httpx.patch(f"{api}({key})", json={"Nope": 1}, auth=MANAGER).status_code == 400
    assert httpx.post(api, content=b"{not json", auth=MANAGER).status_code == 400
    assert httpx.post(api, json={**entity, "Schedule": "sometimes"}, auth=MANAGER).status_code \
        == 400  # fmt: skip
    assert httpx.post(api, json=entity, auth=MANAGER).status_code == 409  # label taken
    assert httpx.get(f"{api}(999)", auth=MANAGER).status_code == 404
    assert httpx.get(f"{api}(abc)", auth=MANAGER).status_code == 400

    assert httpx.delete(f"{api}({key})", auth=MANAGER).status_code == 204
    assert httpx.get(api, auth=MANAGER).json()["d"]["results"] == []


def test_per_source_logins_are_set_read_masked_and_kept_through_the_api(
    served: tuple[OdataHub, str, Hub, str],
) -> None:
    up, up_url, down, url = served
    api = f"{url}/odata/v1/Synchronizers"
    first, second = up_url + CSC, up_url + "/odata/v1"
    logins = [{"Url": second, "Login": DOWNLOADER[0], "Password": DOWNLOADER[1],
               "TokenUrl": "https://identity.example/token"}]  # fmt: skip
    created = httpx.post(api, json={"Label": "two", "ServiceUrl": first, "Sources": [second],
                                    "SourceLogins": logins}, auth=MANAGER)  # fmt: skip
    assert created.status_code == 201, created.text
    key = created.json()["d"]["Id"]
    shown = created.json()["d"]["SourceLogins"]
    assert shown == [{"Url": second, "Login": DOWNLOADER[0], "Password": "***", "Token": None,
                      "TokenUrl": "https://identity.example/token"}]  # fmt: skip

    def stored() -> tuple[SourceLogin, ...]:
        (sync,) = build_sync(down).list_all()
        return sync.definition.source_logins

    (login,) = stored()
    assert (login.password, login.token_url) == (DOWNLOADER[1], "https://identity.example/token")
    # Sent back as read (password "***"), the stored password stays; the token URL changes.
    shown[0]["TokenUrl"] = None
    changed = httpx.patch(f"{api}({key})", json={"SourceLogins": shown}, auth=MANAGER)
    assert changed.status_code == 204, changed.text
    (login,) = stored()
    assert (login.username, login.password, login.token_url) == (*DOWNLOADER, None)

    # Bad logins are refused, naming the problem, and change nothing.
    for bad, words in (
        ([{"Url": "http://elsewhere/odata/v1", "Login": "a", "Password": "b"}], "names no source"),
        ([{"Url": second, "Login": "a", "Token": "t"}], "not both"),
        ([{"Url": second, "Password": "p"}], "needs its user name"),
        ([{"Login": "a"}], "needs the Url"),
        ({"Url": second}, "must be a list"),
        ([{"Url": second, "Secret": "x"}], "unknown keys Secret"),
    ):
        answer = httpx.patch(f"{api}({key})", json={"SourceLogins": bad}, auth=MANAGER)
        assert answer.status_code == 400 and words in answer.text, (bad, answer.text)
    assert [(x.url, x.password) for x in stored()] == [(second, DOWNLOADER[1])]

    # Atom shows which sources have a login of their own, never the secrets.
    atom = httpx.get(f"{api}({key})", params={"$format": "atom"}, auth=MANAGER).text
    assert f"<d:SourceLogins>{second}</d:SourceLogins>" in atom and DOWNLOADER[1] not in atom
    # An empty list: every source uses the synchroniser's own credentials again.
    cleared = httpx.patch(f"{api}({key})", json={"SourceLogins": []}, auth=MANAGER)
    assert cleared.status_code == 204, cleared.text
    assert stored() == ()


def test_metrics_and_hub_registry_show_a_synchroniser_at_work(
    served: tuple[OdataHub, str, Hub, str],
) -> None:
    up, up_url, down, url = served
    assert up.hub.evictor is not None
    up.hub.evictor.add(EvictionPolicy("month", keep_s=30 * 86400))
    sync = build_sync(down)
    created = httpx.post(f"{url}/odata/v1/Synchronizers", auth=MANAGER, json={
        "Label": "t0", "ServiceUrl": up_url + CSC, "ServiceLogin": DOWNLOADER[0],
        "ServicePassword": DOWNLOADER[1], "SourceRollingWindow": "7d"})  # fmt: skip
    assert created.status_code == 201
    assert created.json()["d"]["SourceRollingWindow"] == "P7D"
    registry = httpx.get(f"{url}/api/hubs", auth=DOWNLOADER).json()
    assert registry["sources"][0]["rolling_window"] == "P7D"  # as configured, until read
    report = sync.run("t0")
    assert report.error is None and report.catalogued == 7

    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    metrics = parse_prometheus(response.text)
    assert metrics["eohub_catalogue_products"][""] == 7
    assert metrics["eohub_sync_products_total"]['{synchroniser="t0"}'] == 7
    assert metrics["eohub_sync_errors_total"]['{synchroniser="t0"}'] == 0
    assert metrics["eohub_sync_lag_seconds"]['{synchroniser="t0"}'] == 0
    assert metrics["eohub_sync_running"]['{synchroniser="t0"}'] == 1

    registry = httpx.get(f"{url}/api/hubs", auth=DOWNLOADER).json()
    assert registry["hub"]["tier"] == 1  # its source is a Tier-0 eohub
    assert registry["hub"]["products"] == 7
    assert "SENTINEL-2" in registry["hub"]["coverage"]["missions"]
    (source,) = registry["sources"]
    assert (source["url"], source["tier"], source["status"]) == (up_url + CSC, 0, "ok")
    assert source["rolling_window"] == "P30D"  # what the source reports wins
    upstream = httpx.get(f"{up_url}/api/hubs", auth=DOWNLOADER).json()
    assert (upstream["hub"]["tier"], upstream["sources"]) == (0, [])
    assert upstream["hub"]["rolling_window"] == "P30D"

    # The source stops evicting: its window is no longer reported, the configured one shows.
    up.hub.evictor.remove("month")
    assert sync.run("t0").error is None
    (source,) = httpx.get(f"{url}/api/hubs", auth=DOWNLOADER).json()["sources"]
    assert (source["tier"], source["rolling_window"]) == (0, "P7D")
