"""What the sign-up and password pages share: the registration service, links, clean-up."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from fastapi import Request

from eohub.api.portal.session import hub_of
from eohub.auth.signup import Registrations
from eohub.errors import HubError
from eohub.mail import Mail

log = logging.getLogger("eohub.portal")

PURGE_EVERY_S = 3600
"""How often (at most) a sign-up removes the accounts left unconfirmed too long."""


def registrations(request: Request) -> Registrations:
    """The registration service of the hub serving ``request``, mailing through its mailer."""
    hub = hub_of(request)

    def send(to: str, subject: str, text: str) -> None:
        hub.mailer.send(Mail(to=to, subject=subject, text=text))

    lifetime = timedelta(hours=hub.settings.portal.link_hours)
    return Registrations(hub.accounts, send, link_lifetime=lifetime)


def site_url(request: Request) -> str:
    """The base URL mailed links start with: ``server.public_url``, else this request's."""
    public = hub_of(request).settings.server.public_url
    return (public or str(request.base_url)).rstrip("/")


def purge_if_due(request: Request) -> None:
    """Remove accounts unconfirmed for ``portal.unconfirmed_days`` (once an hour at most)."""
    state = request.app.state
    now = time.monotonic()
    last: float | None = getattr(state, "eohub_unconfirmed_purge", None)
    if last is not None and now - last < PURGE_EVERY_S:
        return
    state.eohub_unconfirmed_purge = now
    hub = hub_of(request)
    removed = hub.accounts.purge_unconfirmed(timedelta(days=hub.settings.portal.unconfirmed_days))
    if removed:
        log.info("removed %d unconfirmed account(s): %s", len(removed), ", ".join(removed))


def mail_quietly(action: str, send: Callable[[str, str], bool], address: str, site: str) -> None:
    """Run a mailing step whose outcome the visitor is not told (after the response is sent,
    so the answer takes as long whether or not a mail goes out); a failure is logged."""
    try:
        send(address, site)
    except HubError as exc:
        log.error("%s failed: %s", action, exc.detail)
