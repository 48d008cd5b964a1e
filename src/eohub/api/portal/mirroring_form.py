"""The form that adds a synchroniser: its fields read into a checked definition, each problem
named on its own field (nothing is stored while any remains)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import replace

from eohub.errors import InvalidQuery
from eohub.sync.filters import local_filter
from eohub.sync.model import FilterLanguage, SyncDefinition, SyncMode
from eohub.sync.schedule import parse_schedule
from eohub.sync.service import check_definition

FIELDS = ("label", "sources", "username", "password", "token", "filter", "filter_language",
          "area", "mode", "schedule")  # fmt: skip
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
_CHECKED_FIELD = {"label": "label", "source": "sources", "token": "token", "schedule": "schedule"}
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


def read_form(values: dict[str, str]) -> tuple[SyncDefinition | None, dict[str, str]]:
    """The definition the form gives, or None and {field: message}."""
    v = {k: values.get(k, "").strip() for k in FIELDS}
    v["password"] = values.get("password", "")  # a password may start or end with a space
    errors: dict[str, str] = {}
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
    if v["token"] and v["username"]:
        errors["token"] = "Give a user name and password, or a token, not both"
    if v["password"] and not v["username"]:
        errors["username"] = "A password needs its user name"
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
    if errors:
        return None, errors
    definition = SyncDefinition(
        label=v["label"], url=urls[0], sources=tuple(urls[1:]),
        username=v["username"] or None, password=v["password"] or None, token=v["token"] or None,
        mode=mode, filter=v["filter"] or None, filter_language=language,
        geofilter=v["area"] or None, schedule=v["schedule"] or None,
    )  # fmt: skip
    try:
        check_definition(definition)  # whatever else the service refuses
    except InvalidQuery as exc:
        return None, {_CHECKED_FIELD.get(exc.field or "", "sources"): exc.user_message}
    return definition, {}
