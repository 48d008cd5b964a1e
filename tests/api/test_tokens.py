"""OpenID Connect tokens and API keys over HTTP, against a real server on 127.0.0.1.

The token endpoint answers as Keycloak does; the tokens verify with PyJWT against the JWKS the
hub publishes; every API takes them as ``Authorization: Bearer`` and as ``?token=``; bad
tokens get a 401 with a Bearer challenge and bad grants OAuth's own error shape, never a 500.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from odata_support import OdataHub, build_odata_hub, live_server

from account_support import DOWNLOADER
from eohub.demo.factory import demo_products
from eohub.model import Role

UPLOADER = ("uploader", "uploader-password")
THROTTLED = ("throttled", "throttled-password")
TOKEN_PATH = "/auth/realms/{realm}/protocol/openid-connect/token"


@dataclass
class Live:
    """The hub and its server's base URL."""

    data: OdataHub
    base: str

    def value_url(self) -> str:
        return f"{self.base}/odata/v1/Products('{self.data.products[0].id}')/$value"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data = build_odata_hub(tmp_path_factory.mktemp("tokens"), n=2, auth={"max_failed_logins": 2})
    data.hub.accounts.create(*UPLOADER, [Role.UPLOAD, Role.SEARCH, Role.DOWNLOAD])
    data.hub.accounts.create(*THROTTLED, [Role.SEARCH])
    with live_server(data.hub) as base:
        yield Live(data, base)
    data.hub.close()


def token_request(base: str, realm: str = "eohub", **form: str) -> httpx.Response:
    return httpx.post(base + TOKEN_PATH.format(realm=realm), data=form, timeout=30)


def password_grant(
    base: str, user: tuple[str, str] = DOWNLOADER, realm: str = "eohub", client: str = "eohub"
) -> dict[str, Any]:
    response = token_request(
        base, realm, grant_type="password", client_id=client, username=user[0], password=user[1]
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(
    base: str, refresh_token: str, client: str = "eohub", realm: str = "eohub"
) -> httpx.Response:
    return token_request(
        base, realm, grant_type="refresh_token", client_id=client, refresh_token=refresh_token
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def odata_status(live: Live, token: str) -> int:
    return httpx.get(f"{live.base}/odata/v1/Products?$top=1", headers=bearer(token)).status_code


# -- the token endpoint -------------------------------------------------------------------------
@pytest.mark.parametrize(("realm", "client"), [("eohub", "eohub"), ("CDSE", "cdse-public")])
def test_password_grant_gives_a_jwt_that_verifies_with_the_published_jwks(
    live: Live, realm: str, client: str
) -> None:
    grant = password_grant(live.base, realm=realm, client=client)
    assert set(grant) >= {"access_token", "expires_in", "refresh_expires_in", "refresh_token",
                          "token_type", "not-before-policy", "session_state", "scope"}  # fmt: skip
    assert grant["token_type"] == "Bearer" and grant["expires_in"] == 600
    assert grant["refresh_expires_in"] == 3600
    config = httpx.get(f"{live.base}/auth/realms/{realm}/.well-known/openid-configuration").json()
    issuer = f"{live.base}/auth/realms/{realm}"
    assert config["issuer"] == issuer
    assert config["token_endpoint"] == live.base + TOKEN_PATH.format(realm=realm)
    key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(grant["access_token"])
    claims = jwt.decode(
        grant["access_token"], key.key, algorithms=["RS256"], audience="CLOUDFERRO_PUBLIC",
        issuer=issuer,
    )  # fmt: skip
    assert claims["preferred_username"] == "downloader" and claims["azp"] == client
    assert claims["typ"] == "Bearer" and claims["exp"] - claims["iat"] == 600
    assert sorted(claims["realm_access"]["roles"]) == ["download", "search"]
    assert claims["sid"] == grant["session_state"] and claims["jti"]
    response = httpx.get(live.value_url(), headers=bearer(grant["access_token"]))
    assert response.status_code == 200 and response.content[:2] == b"PK"


def test_refresh_works_once_and_a_replay_ends_the_whole_session(live: Live) -> None:
    first = password_grant(live.base)
    renewed = refresh(live.base, first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_state"] == first["session_state"]
    assert odata_status(live, second["access_token"]) == 200
    replay = refresh(live.base, first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json() == {
        "error": "invalid_grant",
        "error_description": "Maximum allowed refresh token reuse exceeded",
    }
    # the thief's replay ended the session: the rotated tokens stop working too
    later = refresh(live.base, second["refresh_token"])
    assert later.status_code == 400 and later.json()["error"] == "invalid_grant"
    assert odata_status(live, second["access_token"]) == 401
    assert odata_status(live, password_grant(live.base)["access_token"]) == 200  # others live


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password", "client_id": "eohub", "username": "downloader",
          "password": "wrong"}, 401, "invalid_grant"),
        ({"grant_type": "password", "client_id": "eohub", "username": "nobody",
          "password": "x"}, 401, "invalid_grant"),
        ({"grant_type": "password", "client_id": "other", "username": "downloader",
          "password": "downloader-password"}, 401, "invalid_client"),
        ({"grant_type": "password", "client_id": "eohub", "username": "downloader"}, 400,
         "invalid_request"),
        ({"grant_type": "authorization_code", "client_id": "eohub"}, 400,
         "unsupported_grant_type"),
        ({"client_id": "eohub"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "client_id": "eohub"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "client_id": "eohub", "refresh_token": "garbage"}, 400,
         "invalid_grant"),
        ({"grant_type": "client_credentials", "client_id": "downloader",
          "client_secret": "eohub_unknown"}, 401, "unauthorized_client"),
    ],
)  # fmt: skip
def test_bad_grants_get_keycloak_errors(
    live: Live, form: dict[str, str], status: int, error: str
) -> None:
    response = token_request(live.base, **form)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and body["error_description"]
    if form.get("password") == "wrong":
        assert body["error_description"] == "Invalid user credentials"


def test_non_form_bodies_and_unknown_realms_are_refused_in_shape(live: Live) -> None:
    url = live.base + TOKEN_PATH.format(realm="eohub")
    as_json = httpx.post(url, json={"grant_type": "password"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    for path in (
        TOKEN_PATH.format(realm="nope"),
        "/auth/realms/nope/protocol/openid-connect/certs",
    ):
        response = httpx.request("POST" if path.endswith("token") else "GET", live.base + path)
        assert response.status_code == 404 and response.json() == {"error": "Realm does not exist"}


def test_a_throttled_account_gets_429_with_retry_after(live: Live) -> None:
    for _ in range(2):
        token_request(live.base, grant_type="password", client_id="eohub",
                      username=THROTTLED[0], password="wrong")  # fmt: skip
    response = token_request(live.base, grant_type="password", client_id="eohub",
                             username=THROTTLED[0], password=THROTTLED[1])  # fmt: skip
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert response.json()["error"] == "invalid_grant"


def test_userinfo_and_logout(live: Live) -> None:
    grant = password_grant(live.base)
    url = f"{live.base}/auth/realms/eohub/protocol/openid-connect"
    info = httpx.get(f"{url}/userinfo", headers=bearer(grant["access_token"]))
    assert info.status_code == 200 and info.json()["preferred_username"] == "downloader"
    out = httpx.post(f"{url}/logout", data={"client_id": "eohub",
                                            "refresh_token": grant["refresh_token"]})  # fmt: skip
    assert out.status_code == 204
    assert refresh(live.base, grant["refresh_token"]).status_code == 400
    assert odata_status(live, grant["access_token"]) == 401
    again = httpx.get(f"{url}/userinfo", headers=bearer(grant["access_token"]))
    assert again.status_code == 401 and again.json()["error"] == "invalid_token"
    garbage = httpx.post(f"{url}/logout", data={"refresh_token": "garbage"})
    assert garbage.status_code == 400 and garbage.json()["error"] == "invalid_grant"


# -- bad tokens on the APIs ---------------------------------------------------------------------
def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _forged(live: Live, token: str) -> str:
    """The same claims and kid, signed with another key."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.encode(_claims(token), other, algorithm="RS256", headers={"kid": kid})


def _tampered(live: Live, token: str) -> str:
    """The payload changed (another user, more roles), the signature kept."""
    head, _, signature = _segments(token)
    claims = {**_claims(token), "preferred_username": "root",
              "realm_access": {"roles": [r.value for r in Role]}}  # fmt: skip
    return f"{head}.{_b64(claims)}.{signature}"


def _alg_none(live: Live, token: str) -> str:
    kid = jwt.get_unverified_header(token)["kid"]
    return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_segments(token)[1]}."


def _signed_by_hub(live: Live, token: str, **changes: Any) -> str:
    kid, key = live.data.hub.tokens.keys.signing_key()
    return jwt.encode({**_claims(token), **changes}, key, algorithm="RS256", headers={"kid": kid})


def _wrong_issuer(live: Live, token: str) -> str:
    return _signed_by_hub(live, token, iss="https://elsewhere.example.org/auth/realms/eohub")


def _expired(live: Live, token: str) -> str:
    now = int(time.time())
    return _signed_by_hub(live, token, iat=now - 1200, exp=now - 600)


def _refresh_as_access(live: Live, token: str) -> str:
    return password_grant(live.base)["refresh_token"]


def _garbage(live: Live, token: str) -> str:
    return "not-a-jwt"


@pytest.mark.parametrize(
    "spoil",
    [_forged, _tampered, _alg_none, _wrong_issuer, _expired, _refresh_as_access, _garbage],
)
def test_bad_tokens_are_401_with_a_bearer_challenge(live: Live, spoil: Any) -> None:
    bad = spoil(live, password_grant(live.base)["access_token"])
    for response in (
        httpx.get(live.value_url(), headers=bearer(bad)),
        httpx.get(live.value_url(), params={"token": bad}),
        httpx.get(f"{live.base}/search", params={"q": "*", "token": bad}),
    ):
        assert response.status_code == 401, response.text
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="eohub", error="invalid_token"'), challenge


def test_an_expired_token_from_a_tiny_lifetime_is_refused(tmp_path: Path) -> None:
    # Lifetimes are whole seconds counted from a whole-second iat, so a 3 s token lives 2-3 s:
    # long enough for the first use on a busy machine, expired 3.5 s after it was issued.
    data = build_odata_hub(tmp_path, n=1, auth={"tokens": {"access_lifetime_s": 3}})
    try:
        with live_server(data.hub) as base:
            live = Live(data, base)
            issued = time.monotonic()
            token = password_grant(base)["access_token"]
            assert odata_status(live, token) == 200
            time.sleep(max(0.0, 3.5 - (time.monotonic() - issued)))
            response = httpx.get(live.value_url(), headers=bearer(token))
            assert response.status_code == 401
            assert "expired" in response.headers["WWW-Authenticate"]
    finally:
        data.hub.close()


def test_a_lock_or_password_change_ends_tokens_and_roles_apply_at_once(live: Live) -> None:
    accounts = live.data.hub.accounts
    accounts.create("shortlived", "shortlived-password", [Role.SEARCH, Role.DOWNLOAD])
    user = ("shortlived", "shortlived-password")
    grant = password_grant(live.base, user)
    assert odata_status(live, grant["access_token"]) == 200
    accounts.set_roles(user[0], [Role.DOWNLOAD])  # no SEARCH any more
    assert httpx.get(live.value_url(), headers=bearer(grant["access_token"])).status_code == 200
    accounts.set_roles(user[0], [Role.SEARCH])
    assert httpx.get(live.value_url(), headers=bearer(grant["access_token"])).status_code == 403
    accounts.lock(user[0], "left")
    assert odata_status(live, grant["access_token"]) == 401
    assert refresh(live.base, grant["refresh_token"]).status_code == 400
    locked = token_request(live.base, grant_type="password", client_id="eohub",
                           username=user[0], password=user[1])  # fmt: skip
    assert locked.status_code == 400 and locked.json()["error"] == "invalid_grant"
    assert "disabled" in locked.json()["error_description"]
    accounts.unlock(user[0])
    grant = password_grant(live.base, user)
    accounts.change_password(user[0], "another-password")
    assert odata_status(live, grant["access_token"]) == 401
    assert refresh(live.base, grant["refresh_token"]).status_code == 400


# -- API keys -----------------------------------------------------------------------------------
def test_api_keys_work_as_bearer_query_basic_and_client_credentials(live: Live) -> None:
    keys = live.data.hub.api_keys
    _, key = keys.create("downloader", "script", lifetime=timedelta(days=1))
    assert key.startswith("eohub_")
    assert httpx.get(live.value_url(), headers=bearer(key)).status_code == 200
    assert httpx.get(live.value_url(), params={"token": key}).status_code == 200
    assert httpx.get(live.value_url(), auth=("downloader", key)).status_code == 200
    assert httpx.get(live.value_url(), auth=("uploader", key)).status_code == 401  # not theirs
    grant = token_request(live.base, grant_type="client_credentials", client_id="downloader",
                          client_secret=key)  # fmt: skip
    assert grant.status_code == 200 and "refresh_token" not in grant.json()
    assert odata_status(live, grant.json()["access_token"]) == 200
    assert keys.list("downloader")[0].last_used is not None
    keys.revoke("downloader", "script")
    for response in (
        httpx.get(live.value_url(), headers=bearer(key)),
        httpx.get(live.value_url(), params={"token": key}),
    ):
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert httpx.get(live.value_url(), auth=("downloader", key)).status_code == 401


# -- every API takes tokens ---------------------------------------------------------------------
def test_opensearch_odata_and_upload_take_tokens(live: Live, tmp_path: Path) -> None:
    token = password_grant(live.base)["access_token"]
    search = httpx.get(f"{live.base}/dhus/search", params={"q": "*", "format": "json"},
                       headers=bearer(token))  # fmt: skip
    assert search.status_code == 200 and search.json()["feed"]["entry"]
    value = httpx.get(live.value_url(), params={"token": token})
    assert value.status_code == 200 and value.content[:2] == b"PK"
    product = next(
        p for p in demo_products(4, tmp_path, seed=99, zipped_ratio=1.0) if p.suffix == ".zip"
    )
    upload = password_grant(live.base, UPLOADER)["access_token"]
    with product.open("rb") as body:
        response = httpx.post(f"{live.base}/api/upload", files={"product": (product.name, body)},
                              headers=bearer(upload), timeout=60)  # fmt: skip
    assert response.status_code == 201, response.text
    denied = httpx.post(f"{live.base}/api/upload", files={"product": ("x.zip", b"PK")},
                        headers=bearer(token))  # fmt: skip
    assert denied.status_code == 403  # the downloader's token lacks the UPLOAD role


@pytest.mark.postgis
def test_grants_refresh_and_replay_with_accounts_in_postgresql(
    tmp_path: Path, postgres_dsn: str
) -> None:
    data = build_odata_hub(tmp_path, n=1, catalogue={"dsn": postgres_dsn})
    try:
        with live_server(data.hub) as base:
            live = Live(data, base)
            first = password_grant(base, realm="CDSE", client="cdse-public")
            second = refresh(base, first["refresh_token"], "cdse-public", "CDSE")
            assert second.status_code == 200, second.text
            value = httpx.get(live.value_url(), params={"token": second.json()["access_token"]})
            assert value.status_code == 200
            replay = refresh(base, first["refresh_token"], "cdse-public", "CDSE")
            assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
            assert odata_status(live, second.json()["access_token"]) == 401
            other_realm = refresh(base, second.json()["refresh_token"], "cdse-public", "eohub")
            assert other_realm.status_code == 400  # a refresh token belongs to its realm
    finally:
        data.hub.close()


# -- the CDSE routes, STAC and Subscriptions take tokens ----------------------------------------
def _cdse(live: Live) -> str:
    return f"{live.base}/catalogue/odata/v1"


def test_cdse_download_stac_and_subscriptions_take_oidc_tokens(live: Live) -> None:
    token = password_grant(live.base, realm="CDSE", client="cdse-public")["access_token"]
    product = live.data.products[0]
    url = f"{_cdse(live)}/Products({product.id})/$value"
    for response in (
        httpx.get(url, headers=bearer(token)),
        httpx.get(url, params={"token": token}),
    ):
        assert response.status_code == 200, response.text
        assert len(response.content) == product.size and response.content[:2] == b"PK"
    searched = httpx.get(f"{live.base}/stac/search", params={"limit": 1}, headers=bearer(token))
    assert searched.status_code == 200 and len(searched.json()["features"]) == 1
    posted = httpx.post(f"{live.base}/stac/search", json={"limit": 1}, headers=bearer(token))
    assert posted.status_code == 200 and posted.json()["numberMatched"] > 1
    base = f"{_cdse(live)}/Subscriptions"
    body = {"FilterParam": "Collection/Name eq 'SENTINEL-2'", "StageOrder": True}
    created = httpx.post(base, json=body, headers=bearer(token))
    assert created.status_code == 201, created.text
    sub_id = created.json()["Id"]
    for read in (
        httpx.get(f"{base}({sub_id})/Read", headers=bearer(token)),
        httpx.get(f"{base}({sub_id})/Read", params={"token": token}),
    ):
        assert read.status_code == 200 and isinstance(read.json(), list), read.text
    listed = httpx.get(f"{base}/Info", auth=DOWNLOADER).json()
    assert sub_id in {s["Id"] for s in listed}  # the token's user owns it
    assert httpx.delete(f"{base}({sub_id})", headers=bearer(token)).status_code == 204


def test_stac_get_paging_does_not_clash_with_the_token_parameter(live: Live) -> None:
    """A GET next link pages with ``cursor``; ``token`` stays credentials and is kept."""
    token = password_grant(live.base)["access_token"]
    first = httpx.get(f"{live.base}/stac/search", params={"limit": 1, "token": token}).json()
    seen = [f["id"] for f in first["features"]]
    nxt = next(link["href"] for link in first["links"] if link["rel"] == "next")
    assert "cursor=" in nxt and f"token={token}" in nxt
    second = httpx.get(nxt)
    assert second.status_code == 200, second.text
    seen += [f["id"] for f in second.json()["features"]]
    anonymous = httpx.get(f"{live.base}/stac/search", params={"limit": 1}).json()
    anonymous_next = next(link["href"] for link in anonymous["links"] if link["rel"] == "next")
    assert "token=" not in anonymous_next
    assert httpx.get(anonymous_next).status_code == 200  # no credentials: still a cursor
    assert len(set(seen)) == 2


@pytest.mark.parametrize("spoil", [_garbage, _expired, _forged])
def test_bad_tokens_on_cdse_routes_get_the_cdse_body_and_a_bearer_challenge(
    live: Live, spoil: Any
) -> None:
    bad = spoil(live, password_grant(live.base)["access_token"])
    product = live.data.products[0]
    cdse = _cdse(live)
    for response in (
        httpx.get(f"{cdse}/Products({product.id})/$value", headers=bearer(bad)),
        httpx.get(f"{cdse}/Products({product.id})/$value", params={"token": bad}),
        httpx.get(f"{cdse}/Products", params={"$top": "1"}, headers=bearer(bad)),
        httpx.get(f"{cdse}/Subscriptions/Info", headers=bearer(bad)),
        httpx.post(f"{cdse}/Subscriptions", json={}, params={"token": bad}),
    ):
        assert response.status_code == 401, response.text
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="eohub", error="invalid_token"'), challenge
        detail = response.json()["detail"]
        assert set(detail) == {"message", "request_id"} and detail["message"]
