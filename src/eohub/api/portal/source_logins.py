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
from eohub.sync.model import SECRET, SourceLogin, SyncDefinition
from eohub.sync.service import check_definition

_KEYS = {"user": "username", "password": "password", "token": "token", "token-url": "token_url"}
_SECRET_WORD = re.compile(r"""\b(password|token)=("[^"]*"|'[^']*'|\S+)""")


def logins_text(logins: Sequence[SourceLogin]) -> str:
    """The field's text for stored logins, secrets as ``***``."""
    lines = []
    for login in (given.shown() for given in logins):
        words = [login.url]
        words += [f"{word}={value}" for word, field in _KEYS.items()
                  if (value := getattr(login, field)) is not None]  # fmt: skip
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
        login = SourceLogin(url, **values).keeping(stored)
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
