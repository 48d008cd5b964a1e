"""The forms that add and change a synchroniser: their fields read into a checked definition,
each problem named on its own field (nothing is stored while any remains)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import replace

from eohub.api.portal.source_logins import logins_text, read_logins
from eohub.errors import InvalidQuery
from eohub.sync.filters import local_filter
from eohub.sync.model import FilterLanguage, SyncDefinition, SyncMode, VerifyMode
from eohub.sync.policy import parse_window
from eohub.sync.schedule import parse_schedule
from eohub.sync.service import MAX_STREAMS, check_definition, with_credentials

FIELDS = ("label", "sources", "username", "password", "token", "token_url", "source_logins",
          "filter", "filter_language", "area", "mode", "schedule")  # fmt: skip
MAX_SOURCES = 10
LANGUAGES = (
    (FilterLanguage.ODATA.value, "DHuS OData $filter"),
    (FilterLanguage.OPENSEARCH.value, "DHuS OpenSearch q="),
    (FilterLanguage.CDSE.value, "CDSE OData $filter"),
)
MODES = (
    (SyncMode.METADATA.value, "Metadata only (products offline here)"),
    (SyncMode.COPY.value, "Copy the products' bytes"),
)
VERIFY_MODES = (
    (VerifyMode.ALL.value, "MD5 and BLAKE3, each compared with the source's"),
    (VerifyMode.BLAKE3.value, "BLAKE3 only where the source lists both (its MD5 kept): faster"),
)
EDIT_FIELDS = (*FIELDS, "streams", "verify", "source_window", "forget_credentials")
_CHECKED_FIELD = {"label": "label", "source": "sources", "token": "token", "schedule": "schedule",
                  "streams": "streams", "source_window": "source_window", "value": "mode",
                  "username": "username", "token_url": "token_url",
                  "source_login": "source_logins"}  # fmt: skip
_PROBE = "http://probe.invalid/odata/v1"  # a placeholder source for checking a filter alone


def _urls(text: str) -> list[str]:
    return [u for u in re.split(r"[\s,]+", text.strip()) if u]


def _bad_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme not in ("http", "https") or not parts.netloc


def _parses(definition: SyncDefinition) -> str | None:
    try:
        local_filter(definition)
    except InvalidQuery as exc:
        return exc.user_message
    return None


def _shared(
    v: dict[str, str], errors: dict[str, str]
) -> tuple[list[str], FilterLanguage, SyncMode]:
    """The checks both forms make (each problem added to ``errors``): the source URLs, the
    filter's language and the mode as read."""
    if not v["label"] or len(v["label"]) > 200:
        errors["label"] = "Give the synchroniser a name of 1 to 200 characters"
    urls = _urls(v["sources"])
    if not urls:
        errors["sources"] = "Give at least one source URL (an OData service root)"
    elif len(urls) > MAX_SOURCES:
        errors["sources"] = f"Give at most {MAX_SOURCES} source URLs"
    elif bad := next((u for u in urls if _bad_url(u)), None):
        errors["sources"] = f"'{bad[:200]}' is not an http(s) URL"
    try:
        language = FilterLanguage(v["filter_language"] or "odata")
    except ValueError:
        errors["filter_language"] = "Choose one of the filter languages listed"
        language = FilterLanguage.ODATA
    try:
        mode = SyncMode(v["mode"] or "metadata")
    except ValueError:
        errors["mode"] = "Choose metadata only or copy"
        mode = SyncMode.METADATA
    if v["schedule"]:
        try:
            parse_schedule(v["schedule"])
        except InvalidQuery as exc:
            errors["schedule"] = exc.user_message
    probe = SyncDefinition(label="probe", url=_PROBE, filter_language=language)
    if v["filter"] and (problem := _parses(replace(probe, filter=v["filter"]))):
        errors["filter"] = f"The filter does not parse: {problem}"
    if v["area"] and (problem := _parses(replace(probe, geofilter=v["area"]))):
        errors["area"] = f"The area does not parse: {problem}"
    return urls, language, mode


def _with_logins(definition: SyncDefinition, text: str, errors: dict[str, str]) -> SyncDefinition:
    """``definition`` with the logins of the field's text (its stored ones for ``***``)."""
    try:
        logins = read_logins(text, definition, definition.source_logins)
    except InvalidQuery as exc:
        errors["source_logins"] = exc.user_message
        return definition
    return replace(definition, source_logins=logins)


def _checked(definition: SyncDefinition) -> tuple[SyncDefinition | None, dict[str, str]]:
    try:
        check_definition(definition)  # whatever else the service refuses
    except InvalidQuery as exc:
        return None, {_CHECKED_FIELD.get(exc.field or "", "sources"): exc.user_message}
    return definition, {}


def read_form(values: dict[str, str]) -> tuple[SyncDefinition | None, dict[str, str]]:
    """The definition the add form gives, or None and {field: message}."""
    v = {k: values.get(k, "").strip() for k in FIELDS}
    v["password"] = values.get("password", "")  # a password may start or end with a space
    errors: dict[str, str] = {}
    urls, language, mode = _shared(v, errors)
    if v["token"] and v["username"]:
        errors["token"] = "Give a user name and password, or a token, not both"
    if v["password"] and not v["username"]:
        errors["username"] = "A password needs its user name"
    if errors:
        return None, errors
    definition = SyncDefinition(
        label=v["label"], url=urls[0], sources=tuple(urls[1:]),
        username=v["username"] or None, password=v["password"] or None, token=v["token"] or None,
        token_url=v["token_url"] or None, mode=mode, filter=v["filter"] or None,
        filter_language=language, geofilter=v["area"] or None, schedule=v["schedule"] or None,
    )  # fmt: skip
    if "source_logins" in values:
        definition = _with_logins(definition, values["source_logins"], errors)
    if errors:
        return None, errors
    return _checked(definition)


def form_values(definition: SyncDefinition) -> dict[str, str]:
    """The edit form's fields for a stored definition (no password, no token)."""
    d = definition
    return {"label": d.label, "sources": "\n".join(d.urls), "username": d.username or "",
            "filter": d.filter or "", "filter_language": d.filter_language.value,
            "area": d.geofilter or "", "mode": d.mode.value, "schedule": d.schedule or "",
            "token_url": d.token_url or "", "source_logins": logins_text(d.source_logins),
            "streams": str(d.streams), "verify": d.verify.value,
            "source_window": d.source_window or ""}  # fmt: skip


def _credentials(
    stored: SyncDefinition, v: dict[str, str], errors: dict[str, str]
) -> SyncDefinition:
    """``stored`` with the credentials of the edit form: a blank password or token keeps the
    stored one unless "forget" is ticked; a typed token replaces the user name and password,
    a typed user name the token."""
    forget = "" if v["forget_credentials"] else None
    if v["token"] and v["username"]:
        errors["token"] = (
            "Give a user name and password, or a token, not both: empty the user name to "
            "use a token"
        )
        return stored
    try:
        return with_credentials(
            stored, username=v["username"], password=v["password"] or forget,
            token=v["token"] or forget,
        )  # fmt: skip
    except InvalidQuery:  # the only refusal: a password without its user name
        errors["username"] = "A password needs its user name"
        return stored


def read_edit_form(
    stored: SyncDefinition, values: dict[str, str]
) -> tuple[SyncDefinition | None, dict[str, str]]:
    """The definition the edit form makes of ``stored`` (the fields the form does not show,
    such as the page size or the protocol, kept), or None and {field: message}."""
    v = {k: values.get(k, "").strip() for k in EDIT_FIELDS}
    v["password"] = values.get("password", "")
    errors: dict[str, str] = {}
    urls, language, mode = _shared(v, errors)
    streams = int(v["streams"]) if v["streams"].isdigit() and len(v["streams"]) < 4 else 0
    if not 1 <= streams <= MAX_STREAMS:
        errors["streams"] = f"Parallel downloads are a whole number from 1 to {MAX_STREAMS}"
    v["verify"] = v["verify"] or stored.verify.value  # not sent: kept
    if v["verify"] not in {m.value for m in VerifyMode}:
        errors["verify"] = "Choose one of the checksum choices listed"
    if v["source_window"]:
        try:
            parse_window(v["source_window"])
        except InvalidQuery as exc:
            errors["source_window"] = exc.user_message
    changed = _credentials(stored, v, errors)
    if errors:
        return None, errors
    changed = replace(
        changed, token_url=(v["token_url"] or None) if changed.username else None,
        label=v["label"], url=urls[0], sources=tuple(urls[1:]), mode=mode,
        filter=v["filter"] or None, filter_language=language, geofilter=v["area"] or None,
        schedule=v["schedule"] or None, streams=streams, source_window=v["source_window"] or None,
        verify=VerifyMode(v["verify"]),
    )  # fmt: skip
    if "source_logins" in values:  # (a form without the field keeps them)
        changed = _with_logins(changed, values["source_logins"], errors)
    else:
        changed = changed.pruned_logins()
    if errors:
        return None, errors
    return _checked(changed)
