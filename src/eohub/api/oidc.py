"""A Keycloak-compatible OpenID Connect provider at ``/auth/realms/<realm>``.

Scripts written for CDSE (``identity.dataspace.copernicus.eu/auth/realms/CDSE/...``) change
only the host: the token endpoint takes the same form fields and answers the same JSON, and
errors come in OAuth 2.0's ``{"error", "error_description"}`` shape with Keycloak's texts.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from eohub.api.auth import basic_credentials, bearer_token, issuer
from eohub.auth.token_errors import GrantRejected, InvalidToken
from eohub.auth.tokens import Grant, userinfo
from eohub.errors import Unauthenticated
from eohub.wiring import Hub

router = APIRouter(prefix="/auth/realms/{realm}", tags=["OpenID Connect"])

MAX_FORM = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_STATUS = {"credentials": 401, "request": 400, "throttled": 429}


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _oauth_error(status: int, error: str, description: str, **headers: str) -> JSONResponse:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **headers})


def _unknown_realm(request: Request, realm: str) -> JSONResponse | None:
    if realm in _hub(request).settings.auth.tokens.realms:
        return None
    return JSONResponse({"error": "Realm does not exist"}, status_code=404)


async def _form(request: Request) -> dict[str, str] | JSONResponse:
    kind = request.headers.get("content-type", "")
    if not kind.startswith("application/x-www-form-urlencoded"):
        return _oauth_error(
            400, "invalid_request", "Send the parameters as application/x-www-form-urlencoded"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM:
        return _oauth_error(400, "invalid_request", f"The request is larger than {MAX_FORM} bytes")
    form = await request.form(max_files=0, max_fields=30)
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.get("/.well-known/openid-configuration")
def discovery(request: Request, realm: str) -> Response:
    """OpenID Connect discovery (the endpoints this hub serves)."""
    if (missing := _unknown_realm(request, realm)) is not None:
        return missing
    base = issuer(request, realm)
    endpoints = f"{base}/protocol/openid-connect"
    body: dict[str, Any] = {
        "issuer": base,
        "token_endpoint": f"{endpoints}/token",
        "jwks_uri": f"{endpoints}/certs",
        "userinfo_endpoint": f"{endpoints}/userinfo",
        "end_session_endpoint": f"{endpoints}/logout",
        "grant_types_supported": ["password", "refresh_token", "client_credentials"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post",
                                                  "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "azp", "preferred_username",
                             "email", "email_verified", "name", "given_name", "family_name"],
    }  # fmt: skip
    return JSONResponse(body)


@router.get("/protocol/openid-connect/certs")
async def certs(request: Request, realm: str) -> Response:
    """The JSON Web Key Set that verifies this hub's tokens."""
    if (missing := _unknown_realm(request, realm)) is not None:
        return missing
    return JSONResponse(await run_in_threadpool(_hub(request).tokens.jwks))


@router.post("/protocol/openid-connect/token")
async def token(request: Request, realm: str) -> Response:
    """The token endpoint: ``password``, ``refresh_token`` and ``client_credentials`` grants."""
    if (missing := _unknown_realm(request, realm)) is not None:
        return missing
    form = await _form(request)
    if isinstance(form, JSONResponse):
        return form
    try:
        client_id, client_secret = _client(request, form)
        grant = await run_in_threadpool(_grant, request, realm, form, client_id, client_secret)
    except GrantRejected as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.failure == "throttled" else {}
        return _oauth_error(_STATUS[exc.failure], exc.error, exc.user_message, **headers)
    return JSONResponse(grant.as_keycloak(), headers=_NO_STORE)


def _client(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """client_id and client_secret from the form or from HTTP Basic (client_secret_basic)."""
    try:
        basic = basic_credentials(request.headers.get("authorization"))
    except Unauthenticated:
        raise GrantRejected("invalid_client", "Malformed client credentials") from None
    if basic is not None:
        return basic
    return form.get("client_id", ""), form.get("client_secret", "")


def _grant(
    request: Request, realm: str, form: dict[str, str], client_id: str, secret: str
) -> Grant:
    tokens = _hub(request).tokens
    kind = form.get("grant_type", "")
    here = issuer(request, realm)
    if kind == "password":
        username, password = form.get("username"), form.get("password")
        if not username or password is None:
            raise GrantRejected("invalid_request", "Missing parameter: username or password")
        return tokens.password_grant(here, client_id, username, password, form.get("scope", ""))
    if kind == "refresh_token":
        refresh = form.get("refresh_token")
        if not refresh:
            raise GrantRejected("invalid_request", "Missing parameter: refresh_token")
        return tokens.refresh_grant(here, client_id, refresh)
    if kind == "client_credentials":
        return tokens.client_credentials_grant(here, client_id, secret)
    if not kind:
        raise GrantRejected("invalid_request", "Missing form parameter: grant_type")
    raise GrantRejected("unsupported_grant_type", f"Unsupported grant_type: {kind[:100]}")


@router.api_route("/protocol/openid-connect/userinfo", methods=["GET", "POST"])
async def user_info(request: Request, realm: str) -> Response:
    """Who the bearer token belongs to."""
    if (missing := _unknown_realm(request, realm)) is not None:
        return missing
    challenge = 'Bearer realm="' + realm + '", error="invalid_token"'
    try:
        sent = bearer_token(request.headers.get("authorization"), None)
        if sent is None:
            raise InvalidToken("Missing token")
        user = await run_in_threadpool(_hub(request).tokens.user_of, sent, {issuer(request, realm)})
    except InvalidToken as exc:
        return _oauth_error(401, "invalid_token", exc.user_message, **{
            "WWW-Authenticate": challenge})  # fmt: skip
    return JSONResponse(userinfo(user), headers=_NO_STORE)


@router.post("/protocol/openid-connect/logout")
async def logout(request: Request, realm: str) -> Response:
    """End the session of a refresh token: its access and refresh tokens stop working."""
    if (missing := _unknown_realm(request, realm)) is not None:
        return missing
    form = await _form(request)
    if isinstance(form, JSONResponse):
        return form
    refresh = form.get("refresh_token")
    if not refresh:
        return _oauth_error(400, "invalid_request", "Missing parameter: refresh_token")
    try:
        await run_in_threadpool(_hub(request).tokens.logout, issuer(request, realm), refresh)
    except GrantRejected as exc:
        return _oauth_error(_STATUS[exc.failure], exc.error, exc.user_message)
    return Response(status_code=204, headers=_NO_STORE)
