"""Self-service accounts: sign-up confirmed by a mailed link, and password resets by mail.

A signed-up account is created *pending* (it cannot log in) with the default roles; a one-time
link (purpose ``confirm``) mailed to its address confirms it. A reset link (purpose ``reset``)
lets its holder set a new password, which ends every session of the account. The links carry
a random token of which only the hash is stored; each use consumes it.

Mails go through an injected ``send(to, subject, text)`` so this module stays independent of
how mail is delivered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from eohub.auth.rules import FormRejected, SignUpForm, new_password_problems, sign_up_problems
from eohub.auth.service import Accounts
from eohub.errors import Conflict, HubError, NotFound
from eohub.model.user import USERNAME, User

CONFIRM = "confirm"
SIGN_UP_FIELDS = tuple(SignUpForm.__dataclass_fields__)
"""The fields of the sign-up form in the order it shows them."""
RESET = "reset"

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")

Send = Callable[[str, str, str], None]
"""Sends one plain-text mail: ``send(to, subject, text)``; raises a HubError when it cannot."""


class InvalidLink(HubError):
    """A confirmation or reset link that is unknown, already used or expired."""

    code = "invalid_link"


_CONFIRM_TEXT = """Hello {username},

an account "{username}" was created with this e-mail address at {site}.
Open this link within {hours} hours to confirm it:

{link}

If you did not sign up, ignore this mail: unconfirmed accounts are removed.
"""

_RESET_TEXT = """Hello {username},

someone asked to reset the password of your account "{username}" at {site}.
Open this link within {hours} hours to choose a new password:

{link}

If you did not ask for this, ignore this mail: your password stays as it is.
"""


class Registrations:
    """Sign-up, confirmation and password reset over :class:`Accounts` and a mail sender."""

    def __init__(self, accounts: Accounts, send: Send, *, link_lifetime: timedelta) -> None:
        self.accounts = accounts
        self.send = send
        self.link_lifetime = link_lifetime

    def sign_up(self, form: SignUpForm, site: str) -> User:
        """Create the pending account and mail its confirmation link (``site``: the portal's
        base URL). FormRejected names each field that is wrong; when the mail cannot be sent
        the account is removed again and the sender's error is raised."""
        form = form.cleaned()
        errors = sign_up_problems(form)
        errors.update(self._taken(form, errors))
        if errors:
            raise FormRejected({f: errors[f] for f in SIGN_UP_FIELDS if f in errors})
        profile = form.profile()
        try:
            user = self.accounts.create(
                form.username, form.password, pending=True, **profile.__dict__
            )
        except Conflict:  # signed up by someone else at the same moment
            taken = self._taken(form, {}) or {"username": "Choose another username"}
            raise FormRejected(taken) from None
        try:
            self._mail(user, user.email or "", CONFIRM, site)
        except Exception:
            self.accounts.remove(user.username)
            raise
        return user

    def _taken(self, form: SignUpForm, errors: dict[str, str]) -> dict[str, str]:
        store = self.accounts.store
        taken = {}
        if "username" not in errors and store.get(form.username) is not None:
            taken["username"] = f"The username '{form.username}' is taken: choose another one"
        if "email" not in errors and store.find_by_email(form.email) is not None:
            taken["email"] = "An account with this e-mail address exists: log in instead"
        return taken

    def confirm(self, token: str) -> str:
        """Confirm the account of a confirmation link; its username, or InvalidLink."""
        username = self.accounts.use_token(token, CONFIRM) if _plausible(token) else None
        if username is None:
            raise InvalidLink(
                "This confirmation link is not valid: it was already used, it has expired, "
                "or the account no longer exists"
            )
        try:
            self.accounts.confirm(username)
        except NotFound:
            raise InvalidLink("The account of this confirmation link no longer exists") from None
        return username

    def resend_confirmation(self, email: str, site: str) -> bool:
        """Mail a new confirmation link when ``email`` belongs to a pending account (a caller
        must not tell whether it did, so as not to reveal which addresses exist)."""
        account = self.accounts.store.find_by_email(email.strip()) if email.strip() else None
        if account is None or not account.user.pending or not account.user.email:
            return False
        self._mail(account.user, account.user.email, CONFIRM, site)
        return True

    def request_reset(self, login: str, site: str) -> bool:
        """Mail a reset link to the account with this e-mail address or username, if any
        (the caller must not tell whether there was one)."""
        login = login.strip()
        store = self.accounts.store
        if "@" in login:
            account = store.find_by_email(login)
        else:
            account = store.get(login) if USERNAME.match(login) else None
        if account is None or account.user.pending or not account.user.email:
            return False
        self._mail(account.user, account.user.email, RESET, site)
        return True

    def reset_password(self, token: str, password: str, repeat: str) -> str:
        """Set a new password with a reset link; the username.

        The password is checked before the link is used, so a rejected one leaves the link
        valid; when it turns out to equal the username, FormRejected carries a new token
        replacing the consumed one. InvalidLink when the link cannot be used.
        """
        errors = new_password_problems(password, repeat, "")
        if errors:
            raise FormRejected(errors)
        username = self.accounts.use_token(token, RESET) if _plausible(token) else None
        if username is None:
            raise InvalidLink(
                "This password reset link is not valid: it was already used or it has expired. "
                "Ask for a new one."
            )
        errors = new_password_problems(password, repeat, username)
        if errors:
            renewed = self.accounts.issue_token(username, RESET, self.link_lifetime)
            raise FormRejected(errors, token=renewed)
        self.accounts.change_password(username, password)  # also ends every session
        return username

    def _mail(self, user: User, to: str, purpose: str, site: str) -> None:
        token = self.accounts.issue_token(user.username, purpose, self.link_lifetime)
        site = site.rstrip("/")
        if purpose == CONFIRM:
            subject, template = "Confirm your eohub account", _CONFIRM_TEXT
            link = f"{site}/signup/confirm/{token}"
        else:
            subject, template = "Reset your eohub password", _RESET_TEXT
            link = f"{site}/password/reset/{token}"
        hours = max(1, int(self.link_lifetime.total_seconds() // 3600))
        text = template.format(username=user.username, site=site, hours=hours, link=link)
        self.send(to, subject, text)


def _plausible(token: str) -> bool:
    """Whether ``token`` looks like one we issue (bounded, URL-safe) before any lookup."""
    return _TOKEN.fullmatch(token) is not None
