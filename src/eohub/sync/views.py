"""Synchronisers as other programs read them: DHuS OData v1 ``Synchronizer`` entities (and
the definition a POST or PATCH body gives), Prometheus metrics, and the hub registry.
Plain values in, plain values out: the HTTP side is :mod:`eohub.api.odata_synchronizers`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from eohub.errors import InvalidQuery
from eohub.sync.model import (
    SECRET,
    FilterLanguage,
    SourceLogin,
    SourceProtocol,
    SyncDefinition,
    Synchroniser,
    SyncMode,
    SyncStatus,
    ValueServing,
    VerifyMode,
    masked,
)
from eohub.sync.policy import EvictionPolicy, iso_duration
from eohub.sync.schedule import planned_run


def _date(value: datetime | None) -> str | None:
    """OData v1 JSON's ``/Date(ms)/``."""
    return None if value is None else f"/Date({math.floor(value.timestamp() * 1000)})/"


def synchronizer_values(sync: Synchroniser) -> dict[str, Any]:
    """One synchroniser as the property values of DHuS's ``Synchronizer`` entity (dates as
    datetimes, ``ServicePassword`` as ``***``), this hub's own properties after DHuS's."""
    d = sync.definition
    if sync.status is SyncStatus.PAUSED:
        status = "STOPPED"
    elif sync.last_error:
        status = "ERROR"
    else:
        status = "RUNNING" if sync.last_run else "PENDING"
    return {
        "Id": sync.id,
        "Label": d.label,
        "CreationDate": sync.created,
        "ServiceUrl": d.url,
        "ServiceLogin": d.username,
        "ServicePassword": masked(d.password or d.token),
        "Schedule": d.schedule,
        "PageSize": d.page_size,
        "CopyProduct": d.mode is SyncMode.COPY,
        "FilterParam": d.filter,
        "GeoFilter": d.geofilter,
        "SourceCollection": d.collection,
        "LastCreationDate": sync.last_remote_date,
        "Request": "stop" if sync.status is SyncStatus.PAUSED else "start",
        "Status": status,
        "StatusDate": sync.last_run,
        "StatusMessage": sync.last_error,
        # eohub's additions
        "Protocol": d.source_protocol.value,
        "TokenUrl": d.token_url,
        "ClientId": d.client_id if d.token_url else None,
        "FilterLanguage": d.filter_language.value,
        "Sources": list(d.sources),
        "SourceLogins": [_login_values(login) for login in d.source_logins],
        "ValueServing": d.value.value,
        "Products": sync.counters.products,
        "Bytes": sync.counters.bytes,
        "Deleted": sync.counters.deleted,
        "Failures": sync.counters.failures,
        "SkippedProducts": sync.skipped,
        "MaxFailures": d.max_failures,
        "Verify": d.verify.value,
        "FileChecksums": d.file_checksums,
        "LagSeconds": sync.lag_seconds,
        "Throughput": round(sync.last_rate, 3),
        "LastSuccess": sync.last_success,
        "NextRun": planned_run(sync),
        "CurrentSource": sync.source,
        "SourceRollingWindow": d.source_window,
    }


def _login_values(login: SourceLogin) -> dict[str, str | None]:
    shown = login.shown()
    return {"Url": shown.url, "Login": shown.username, "Password": shown.password,
            "Token": shown.token, "TokenUrl": shown.token_url}  # fmt: skip


def synchronizer_entity(sync: Synchroniser) -> dict[str, Any]:
    """One synchroniser as a DHuS OData v1 JSON entity (dates as ``/Date(ms)/``)."""
    return {name: _date(value) if isinstance(value, datetime) else value
            for name, value in synchronizer_values(sync).items()}  # fmt: skip


_BOOL = {True: True, False: False, "true": True, "false": False}


def _text(name: str, value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidQuery(f"{name} must be a string", field=name)


def _int(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 10:
        return int(value)
    raise InvalidQuery(f"{name} must be an integer", field=name)


def _flag(name: str, value: object) -> bool:
    found = _BOOL.get(value) if isinstance(value, bool | str) else None
    if found is None:
        raise InvalidQuery(f"{name} must be true or false", field=name)
    return found


def _choice(name: str, value: object, kind: type[Any]) -> Any:
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(v.value for v in kind)
        raise InvalidQuery(f"{name} must be one of {valid}", field=name) from None


def _sources(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value)
    raise InvalidQuery(f"{name} must be a list of URLs", field=name)


_LOGIN_KEYS = frozenset({"Url", "Login", "Password", "Token", "TokenUrl"})


def source_logins(
    value: object, stored: tuple[SourceLogin, ...] = (), name: str = "SourceLogins"
) -> tuple[SourceLogin, ...]:
    """The per-source logins a body gives: a list of ``{"Url", "Login", "Password", "Token",
    "TokenUrl"}`` objects replacing the stored ones; a Password or Token of ``***`` keeps the
    one stored for that URL. Checked further (URLs of sources, one login each) by the
    service."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidQuery(f"{name} must be a list of objects with Url, Login, Password, Token "
                           "and TokenUrl (JSON)", field=name)  # fmt: skip
    out: list[SourceLogin] = []
    for item in value:
        unknown = sorted(set(item) - _LOGIN_KEYS)
        if unknown:
            raise InvalidQuery(f"{name}: unknown keys {', '.join(unknown)[:200]}", field=name)
        url = _text(f"{name}/Url", item.get("Url"))
        if not url:
            raise InvalidQuery(f"{name}: each login needs the Url of its source", field=name)
        fields = ("Login", "Password", "Token", "TokenUrl")
        login = SourceLogin(url, *(_text(f"{name}/{key}", item.get(key)) for key in fields))
        out.append(login.keeping(stored))
    return tuple(out)


def _mode(name: str, value: object) -> SyncMode:
    return SyncMode.COPY if _flag(name, value) else SyncMode.METADATA


def _protocol(name: str, value: object) -> SourceProtocol | None:
    return None if value is None else _choice(name, value, SourceProtocol)  # type: ignore[no-any-return]


# Writable entity property -> (definition field, converter).
_WRITABLE: dict[str, tuple[str, Any]] = {
    "Label": ("label", lambda n, v: _text(n, v) or ""),
    "ServiceUrl": ("url", lambda n, v: _text(n, v) or ""),
    "ServiceLogin": ("username", _text),
    "ServicePassword": ("password", _text),
    "TokenUrl": ("token_url", _text),
    "ClientId": ("client_id", lambda n, v: _text(n, v) or ""),
    "Schedule": ("schedule", _text),
    "PageSize": ("page_size", _int),
    "CopyProduct": ("mode", _mode),
    "FilterParam": ("filter", _text),
    "GeoFilter": ("geofilter", _text),
    "SourceCollection": ("collection", _text),
    "Protocol": ("protocol", _protocol),
    "FilterLanguage": ("filter_language", lambda n, v: _choice(n, v, FilterLanguage)),
    "Sources": ("sources", _sources),
    "ValueServing": ("value", lambda n, v: _choice(n, v, ValueServing)),
    "MaxFailures": ("max_failures", _int),
    "Verify": ("verify", lambda n, v: _choice(n, v, VerifyMode)),
    "FileChecksums": ("file_checksums", _flag),
    "SourceRollingWindow": ("source_window", _text),
}


def apply_entity(
    base: SyncDefinition | None, body: Mapping[str, Any]
) -> tuple[SyncDefinition, SyncStatus | None]:
    """The definition a POST (``base`` None) or PATCH body gives, and the status its
    ``Request`` (``start``/``stop``) asks for; InvalidQuery names a bad property."""
    unknown = sorted(set(body) - set(_WRITABLE) - {"Request", "Id", "__metadata", "SourceLogins"})
    if unknown:
        raise InvalidQuery(f"unknown or read-only properties: {', '.join(unknown)[:200]}")
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name in _WRITABLE and not (name == "ServicePassword" and value == SECRET):
            field, convert = _WRITABLE[name]
            changes[field] = convert(name, value)
    if "SourceLogins" in body:
        stored = base.source_logins if base is not None else ()
        changes["source_logins"] = source_logins(body["SourceLogins"], stored)
    status = None
    if "Request" in body:
        request = _text("Request", body["Request"])
        if request not in ("start", "stop"):
            raise InvalidQuery("Request must be start or stop", field="Request")
        status = SyncStatus.RUNNING if request == "start" else SyncStatus.PAUSED
    if base is None:
        if not changes.get("label") or not changes.get("url"):
            raise InvalidQuery("a new synchronizer needs a Label and a ServiceUrl")
        return SyncDefinition(**changes), status
    changed = replace(base, **changes)
    # Logins of sources the body removed go with them; logins the body gives are checked.
    return (changed if "SourceLogins" in body else changed.pruned_logins()), status


# -- Prometheus ---------------------------------------------------------------------------------
def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus_text(syncs: Sequence[Synchroniser], products: int) -> str:
    """The Prometheus text exposition format (0.0.4) of the hub's catalogue and synchronisers.
    Written out here rather than with prometheus_client: a dozen lines of text, computed
    from the store on each scrape, need no registry of live metric objects."""
    families: list[tuple[str, str, str, list[tuple[dict[str, str], float]]]] = [
        ("eohub_catalogue_products", "gauge", "Products in this hub's catalogue.",
         [({}, float(products))]),
    ]  # fmt: skip

    def per_sync(name: str, kind: str, text: str, value: Any) -> None:
        samples = []
        for s in syncs:
            found = value(s)
            if found is not None:
                samples.append(({"synchroniser": s.definition.label}, float(found)))
        families.append((name, kind, text, samples))

    per_sync("eohub_sync_products_total", "counter", "Products catalogued by the synchroniser.",
             lambda s: s.counters.products)  # fmt: skip
    per_sync("eohub_sync_bytes_total", "counter", "Product bytes copied by the synchroniser.",
             lambda s: s.counters.bytes)  # fmt: skip
    per_sync("eohub_sync_deleted_total", "counter", "Upstream deletions applied.",
             lambda s: s.counters.deleted)  # fmt: skip
    per_sync("eohub_sync_errors_total", "counter", "Products or pages that failed after retries.",
             lambda s: s.counters.failures)  # fmt: skip
    per_sync("eohub_sync_skipped_products", "gauge",
             "Products on the synchroniser's skip list (failed too often; see sync retry).",
             lambda s: s.skipped)  # fmt: skip
    per_sync("eohub_sync_lag_seconds", "gauge",
             "The source's newest publication minus the one the cursor has reached.",
             lambda s: s.lag_seconds)  # fmt: skip
    per_sync("eohub_sync_throughput_products_per_second", "gauge",
             "Products per second of the last run that catalogued some.",
             lambda s: s.last_rate)  # fmt: skip
    per_sync("eohub_sync_running", "gauge", "1 when the synchroniser runs, 0 when paused.",
             lambda s: 1 if s.status is SyncStatus.RUNNING else 0)  # fmt: skip
    per_sync("eohub_sync_last_success_timestamp_seconds", "gauge",
             "When a page last passed without failure.",
             lambda s: s.last_success.timestamp() if s.last_success else None)  # fmt: skip
    lines: list[str] = []
    for name, kind, text, samples in families:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            shown = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{shown}}} {value!r}" if shown else f"{name} {value!r}")
    return "\n".join(lines) + "\n"


# -- registry -----------------------------------------------------------------------------------
def _coverage(sync: Synchroniser) -> dict[str, Any]:
    d = sync.definition
    return {"filter": d.filter, "filter_language": d.filter_language.value,
            "area": d.geofilter, "collection": d.collection}  # fmt: skip


def rolling_window(policies: Sequence[EvictionPolicy]) -> str | None:
    """The hub's rolling window as an ISO 8601 duration (``P30D``): the shortest keep period
    of its eviction policies, so a product stays at least that long unless a byte budget
    evicts it sooner; None without a keep period (the archive is kept)."""
    keeps = [p.keep_s for p in policies if p.keep_s is not None]
    return iso_duration(min(keeps)) if keeps else None


def hub_registry(
    url: str,
    syncs: Sequence[Synchroniser],
    missions: Sequence[str],
    products: int,
    *,
    window: str | None = None,
) -> dict[str, Any]:
    """``GET /api/hubs``: this hub (tier 0 when it mirrors nothing, else one below its
    sources' best known tier, its rolling ``window``) and every source its synchronisers
    read, with status and rolling window: the one the source reports at its own
    ``/api/hubs`` (read after each run), else the one configured on the synchroniser."""
    sources: list[dict[str, Any]] = []
    for s in syncs:
        for source in s.definition.urls:
            state = s.source_state(source)
            if s.status is SyncStatus.PAUSED:
                status = "paused"
            elif state.last_error and state.failures:
                status = "failing"
            elif state.successes:
                status = "ok"
            else:
                status = "unknown"
            sources.append({
                "url": source, "synchroniser": s.definition.label,
                "protocol": s.definition.protocol_for(source).value, "tier": state.tier,
                "coverage": _coverage(s), "status": status,
                "rolling_window": state.window or s.definition.source_window,
                "success_rate": round(state.success_rate, 3),
                "throughput": round(state.rate, 3), "lag_seconds": s.lag_seconds,
                "last_error": state.last_error,
            })  # fmt: skip
    tiers = [t for t in (src["tier"] for src in sources) if isinstance(t, int)]
    tier = 0 if not syncs else 1 + (min(tiers) if tiers else 0)
    this = {"url": url, "tier": tier, "coverage": {"missions": list(missions), "area": None},
            "rolling_window": window, "status": "ok", "products": products}  # fmt: skip
    return {"hub": this, "sources": sources}
