"""How a synchroniser signs in to its sources, against real eohub hubs on 127.0.0.1 read
through the proxy that records request headers:

- as CDSE's scripts do: a password grant at an OpenID Connect token endpoint (``--token-url``;
  here the source's own Keycloak-style endpoint, access tokens living 32 s), the access token
  sent as Bearer and renewed before it expires;
- with a login of one source's own (``--source-login``), instead of the synchroniser's.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from byte_products import add_byte_products
from cli_support import eohub_sync
from fault_proxy import Fault, FaultProxy, fault_proxy

from account_support import DOWNLOADER, add_downloader
from api.odata_support import live_server
from eohub.config import Settings
from eohub.errors import InvalidQuery
from eohub.model.user import Role
from eohub.query import Query
from eohub.sync import SyncDefinition, SyncMode, SyncService
from eohub.sync.credentials import EXPIRY_MARGIN_S
from eohub.sync.model import SourceLogin
from eohub.sync.remote import Backoff
from eohub.wiring import Hub, build_hub, build_sync

FAST = Backoff(attempts=2, base=0.01, cap=0.02)
LIFETIME_S = int(EXPIRY_MARGIN_S) + 2  # renewed once it is 2 s old
SECOND = ("second-mirror", "second-password")


@dataclass
class Source:
    up: Hub
    url: str  # through the proxy
    token_url: str
    proxy: FaultProxy
    down: Hub
    sync: SyncService

    def definition(self, **changes: object) -> SyncDefinition:
        values: dict[str, object] = {
            "label": "cdse", "url": self.url + "/catalogue/odata/v1", "username": DOWNLOADER[0],
            "password": DOWNLOADER[1], "token_url": self.token_url, "mode": SyncMode.COPY,
            "page_size": 10, "streams": 2, "max_failures": 0,
        }  # fmt: skip
        values.update(changes)
        return SyncDefinition(**values)  # type: ignore[arg-type]

    def bearers(self, since: int = 0) -> list[str]:
        """The Authorization header of every catalogue request from log entry ``since``."""
        return [h.get("authorization", "") for p, h in self.proxy.headers[since:]
                if p.startswith("/catalogue/odata/v1")]  # fmt: skip

    def local(self) -> int:
        return len(self.down.catalogue.search(Query(limit=100)).items)


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Source]:
    tokens = {"tokens": {"access_lifetime_s": LIFETIME_S}}
    up = build_hub(Settings(data_dir=tmp_path / "up", auth=tokens))  # type: ignore[call-arg]
    add_downloader(up)
    add_byte_products(up, 3, seed=51, size=(10_000, 50_000))
    down = build_hub(Settings(data_dir=tmp_path / "down"))  # type: ignore[call-arg]
    sync = build_sync(down)
    sync.backoff = FAST
    try:
        with live_server(up) as served, fault_proxy(served) as (url, proxy):
            token_url = f"{served}/auth/realms/eohub/protocol/openid-connect/token"
            yield Source(up, url, token_url, proxy, down, sync)
    finally:
        down.close()
        up.close()


def test_tokens_from_the_endpoint_are_sent_as_bearer_and_renewed(source: Source) -> None:
    source.sync.add(source.definition())
    assert source.sync.run("cdse").error is None and source.local() == 3
    first = source.bearers()
    assert first and all(h.startswith("Bearer ey") for h in first)  # a JWT, never Basic
    assert len(set(first)) == 1
    seen = len(source.proxy.headers)

    time.sleep(2.5)  # the token is now within the renewal margin of its expiry
    later = add_byte_products(source.up, 2, seed=52, size=(10_000, 50_000))
    now = datetime.now(UTC)  # published after the cursor: the next run's
    source.up.catalogue.upsert([p.evolve(publication_date=now) for p in later])
    assert source.sync.run("cdse").error is None and source.local() == 5
    second = source.bearers(seen)
    assert second and all(h.startswith("Bearer ey") for h in second)
    assert not set(second) & set(first)  # a renewed token


def test_refused_credentials_fail_the_run_with_the_endpoints_words(source: Source) -> None:
    source.sync.add(source.definition(label="wrong", password="not-the-password"))
    report = source.sync.run("wrong")
    assert report.error is not None
    assert "did not give a token" in report.error and "invalid_grant" in report.error
    assert source.local() == 0
    assert source.bearers() == []  # nothing was asked of the catalogue without a token


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"token_url": "ftp://127.0.0.1/token"}, "is not an http(s) URL"),
        ({"password": None}, "needs the user name and password"),
        ({"client_id": " "}, "client id has 1 to 200 characters"),
    ],
)
def test_bad_token_settings_are_refused(
    source: Source, changes: dict[str, object], words: str
) -> None:
    with pytest.raises(InvalidQuery) as caught:
        source.sync.add(source.definition(**changes))
    assert words in caught.value.user_message


def test_the_cli_sets_shows_and_removes_the_token_url(tmp_path: Path) -> None:
    def eohub(*args: str) -> subprocess.CompletedProcess[str]:
        return eohub_sync(tmp_path, *args)

    token_url = "https://identity.example.org/auth/realms/CDSE/protocol/openid-connect/token"
    added = eohub("add", "c", "--source", "https://catalogue.example.org/odata/v1", "--user",
                  "me", "--password", "secret", "--token-url", token_url)  # fmt: skip
    assert added.returncode == 0, added.stderr
    shown = json.loads(eohub("show", "c").stdout)
    assert (shown["token_url"], shown["client_id"], shown["password"]) == (
        token_url, "cdse-public", "***")  # fmt: skip
    assert "secret" not in eohub("show", "c").stdout
    assert eohub("edit", "c", "--token-url", "").returncode == 0
    assert json.loads(eohub("show", "c").stdout)["token_url"] is None
    refused = eohub("add", "d", "--source", "https://x.example.org", "--token-url", token_url)
    assert refused.returncode != 0 and "needs the user name and password" in refused.stderr


def test_a_source_with_a_login_of_its_own_is_read_with_it(tmp_path: Path) -> None:
    """Two sources, each with its own account upstream: the first (the synchroniser's own
    credentials) dies, the second is read with its own login, never the first's."""
    up = build_hub(Settings(data_dir=tmp_path / "up"))  # type: ignore[call-arg]
    add_downloader(up)
    up.accounts.create(*SECOND, [Role.SEARCH, Role.DOWNLOAD])
    products = add_byte_products(up, 4, seed=53, size=(10_000, 50_000))
    down = build_hub(Settings(data_dir=tmp_path / "down"))  # type: ignore[call-arg]
    sync = build_sync(down)
    sync.backoff = FAST
    try:
        with (
            live_server(up) as served,
            fault_proxy(served) as (first, dying),
            fault_proxy(served) as (second, proxy),
        ):
            dying.faults.append(Fault("/Products", "500", times=1000))
            sync.add(SyncDefinition(
                label="two", url=first + "/odata/v1", sources=(second + "/odata/v1",),
                username=DOWNLOADER[0], password=DOWNLOADER[1], mode=SyncMode.COPY,
                source_logins=(SourceLogin(second + "/odata/v1", *SECOND),),
            ))  # fmt: skip
            report = sync.run("two")
        assert report.error is None and report.failovers == 1
        assert {p.id for p in down.catalogue.search(Query(limit=100)).items} == {
            p.id for p in products
        }
        theirs = "Basic " + base64.b64encode(":".join(SECOND).encode()).decode()
        mine = "Basic " + base64.b64encode(":".join(DOWNLOADER).encode()).decode()
        assert {h.get("authorization") for _, h in proxy.headers} == {theirs}
        assert {h.get("authorization") for _, h in dying.headers} == {mine}
    finally:
        down.close()
        up.close()


def test_the_cli_keeps_source_logins_secret_and_checks_them(tmp_path: Path) -> None:
    def eohub(*args: str) -> subprocess.CompletedProcess[str]:
        return eohub_sync(tmp_path, *args)

    one, two = "https://one.example.org/odata/v1", "https://two.example.org/odata/v1"
    added = eohub("add", "s", "--source", one, "--source", two, "--user", "me", "--password",
                  "pw-one", "--source-login", two, "them", "pw-two")  # fmt: skip
    assert added.returncode == 0, added.stderr
    shown = eohub("show", "s").stdout
    assert "pw-two" not in shown and "pw-one" not in shown
    assert json.loads(shown)["source_logins"] == [
        {"url": two, "username": "them", "password": "***", "token": None, "token_url": None}
    ]
    keycloak = "https://identity.example.org/token"
    assert eohub("edit", "s", "--source-token-url", two, keycloak).returncode == 0
    (login,) = json.loads(eohub("show", "s").stdout)["source_logins"]
    assert (login["username"], login["password"], login["token_url"]) == ("them", "***", keycloak)
    assert eohub("edit", "s", "--source-token-url", two, "").returncode == 0  # removed
    assert json.loads(eohub("show", "s").stdout)["source_logins"][0]["token_url"] is None
    lone = eohub("edit", "s", "--source-token-url", one, keycloak)  # no login of its own
    assert lone.returncode != 0 and "that source has no login of its own" in lone.stderr
    assert eohub("edit", "s", "--source-token", two, "tok").returncode == 0
    logins = json.loads(eohub("show", "s").stdout)["source_logins"]
    assert [(s["username"], s["token"]) for s in logins] == [(None, "***")]
    assert eohub("edit", "s", "--source", one).returncode == 0  # its source gone: so is it
    assert json.loads(eohub("show", "s").stdout)["source_logins"] == []
    stray = eohub("edit", "s", "--source-login", "https://three.example.org", "x", "y")
    assert stray.returncode != 0 and "names no source of this synchroniser" in stray.stderr
