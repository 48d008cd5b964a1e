"""The "logins of single sources" field of the synchroniser forms: one line a source,

    https://hub/odata/v1 user=NAME password=SECRET [token-url=URL]
    https://hub/catalogue/odata/v1 token=SECRET

read with shell quoting rules (``password="with spaces"``). Stored secrets are shown as
``***``, and a line sent back with ``***`` keeps the stored secret of that source; a source
without a line uses the synchroniser's own credentials. Written by hand: a few key=value words
a line need no form library, and ``shlex`` does the quoting.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from eohub.errors import InvalidQuery
from eohub.sync.model import SourceLogin, SyncDefinition
from eohub.sync.service import check_definition

SECRET = "***"
_KEYS = {"user": "username", "password": "password", "token": "token", "token-url": "token_url"}
_SECRET_WORD = re.compile(r"""\b(password|token)=("[^"]*"|'[^']*'|\S+)""")


def logins_text(logins: Sequence[SourceLogin]) -> str:
    """The field's text for stored logins, secrets as ``***``."""
    lines = []
    for login in logins:
        words = [login.url]
        if login.username is not None:
            words.append(f"user={login.username}")
        if login.password:
            words.append(f"password={SECRET}")
        if login.token:
            words.append(f"token={SECRET}")
        if login.token_url:
            words.append(f"token-url={login.token_url}")
        lines.append(shlex.join(words))
    return "\n".join(lines)


def masked(text: str) -> str:
    """The field's text as typed, its secrets replaced by ``***`` (to show a refused form)."""
    return _SECRET_WORD.sub(lambda m: f"{m[1]}={SECRET}", text)


def read_logins(
    text: str, definition: SyncDefinition, stored: Sequence[SourceLogin] = ()
) -> tuple[SourceLogin, ...]:
    """The logins of the field's text for the sources of ``definition`` (``***`` keeps the
    stored secret); InvalidQuery names the line and its problem, never a secret."""
    kept = {login.url: login for login in stored}
    logins: list[SourceLogin] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            url, *pairs = shlex.split(line)
        except ValueError:
            raise InvalidQuery(f"Line {number}: a quote is not closed") from None
        values: dict[str, str | None] = {}
        for pair in pairs:
            key, equals, value = pair.partition("=")
            if not equals or key not in _KEYS:
                raise InvalidQuery(f"Line {number}: '{key[:40]}' is not one of user=, password=, "
                                   "token= or token-url=")  # fmt: skip
            values[_KEYS[key]] = value or None
        old = kept.get(url)
        for secret in ("password", "token"):
            if values.get(secret) == SECRET:
                values[secret] = getattr(old, secret) if old is not None else None
        login = SourceLogin(url, **values)
        probe = SyncDefinition(
            label="probe", url=definition.url, sources=definition.sources, source_logins=(login,)
        )
        try:  # the service's checks, one login at a time so the line can be named
            check_definition(probe)
        except InvalidQuery as exc:
            raise InvalidQuery(f"Line {number}: {exc.user_message}") from None
        logins.append(login)
    urls = [login.url for login in logins]
    if len(set(urls)) < len(urls):
        raise InvalidQuery("Give one line a source")
    return tuple(logins)
