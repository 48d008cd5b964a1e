"""Driving the portal's account pages as a browser does: pages, forms with CSRF, mailed links.

A :class:`Browser` is an in-process HTTP client over the real application with its own cookie
jar; mails are read back from the hub's outbox folder (real ``.eml`` files).
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from eohub.api.app import create_app
from eohub.config import Settings
from eohub.wiring import Hub, build_hub

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
GOOD_PASSWORD = "correct horse battery"


@contextmanager
def portal_hub(tmp_path: Path, **settings: Any) -> Iterator[Hub]:
    """A real hub (SQLite catalogue and accounts, outbox mailer) in ``tmp_path``."""
    hub = build_hub(Settings(data_dir=tmp_path / "hub", **settings))
    try:
        yield hub
    finally:
        hub.close()


class Browser:
    """One visitor: a cookie jar over the application (in process, through its ASGI
    interface, background tasks included), not following redirects."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._stack = ExitStack()
        self._portal: BlockingPortal = self._stack.enter_context(start_blocking_portal())
        transport = httpx.ASGITransport(app=create_app(hub=hub))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request."""
        response: httpx.Response = self._portal.call(
            lambda: self.client.request(method, path, **kwargs)
        )
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def csrf(self, path: str = "/login") -> str:
        """The CSRF token the form on ``path`` carries."""
        page = self.get(path)
        found = CSRF.search(page.text)
        assert found, f"no CSRF token on {path} ({page.status_code})"
        return found.group(1)

    def submit(
        self, path: str, data: dict[str, Any], *, form_page: str | None = None
    ) -> httpx.Response:
        """POST ``data`` to ``path`` with the CSRF token of ``form_page`` (default: ``path``)."""
        token = self.csrf(form_page or path)
        return self.request("POST", path, data={"csrf_token": token, **data})

    def post(self, path: str, data: dict[str, Any]) -> httpx.Response:
        """POST exactly ``data`` (no CSRF token added)."""
        return self.request("POST", path, data=data)

    def log_in(self, username: str, password: str) -> httpx.Response:
        """Log in through the login form."""
        return self.submit("/login", {"username": username, "password": password})

    def sign_up(self, **fields: str) -> httpx.Response:
        """Send the sign-up form; ``fields`` replace the defaults of a valid one."""
        return self.submit("/signup", sign_up_fields(**fields))

    def close(self) -> None:
        """Release the client."""
        self._portal.call(self.client.aclose)
        self._stack.close()


def sign_up_fields(**fields: str) -> dict[str, str]:
    """A valid sign-up form for user ``alice``, with ``fields`` replacing values."""
    values = {
        "username": "alice",
        "email": "alice@example.org",
        "password": GOOD_PASSWORD,
        "repeat": GOOD_PASSWORD,
        "firstname": "Alice",
        "lastname": "Liddell",
        "country": "France",
        "domain": "research",
    }
    values.update(fields)
    if "password" in fields and "repeat" not in fields:
        values["repeat"] = fields["password"]
    return values


def mails(hub: Hub) -> list[EmailMessage]:
    """Every mail in the hub's outbox, oldest first."""
    folder = hub.settings.outbox_path
    files = sorted(folder.glob("*.eml"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [parse(path.read_bytes()) for path in files]


def parse(raw: bytes) -> EmailMessage:
    """A mail from its bytes."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def link_in(message: EmailMessage, kind: str) -> str:
    """The ``/signup/confirm/...`` or ``/password/reset/...`` link of a mail (full URL)."""
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    found = re.search(rf"(\S*/{kind}/[A-Za-z0-9_-]+)", text)
    assert found, f"no {kind} link in: {text}"
    return found.group(1)


def path_of(url: str) -> str:
    """The path of a full URL (the in-process client's host differs)."""
    return httpx.URL(url).raw_path.decode()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
