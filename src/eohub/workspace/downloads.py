"""A cart as download files: Metalink 4, a list of URLs, and wget and curl scripts.

Each product is fetched from the DHuS OData ``$value`` URL of the hub. Only catalogued,
online products are listed. The scripts resume interrupted downloads (a file already complete
is skipped, a partial one continued), read the credentials from ``EOHUB_USER`` /
``EOHUB_PASSWORD`` (asking for them when unset, never putting them on a command line), then
check every MD5 with ``md5sum -c`` and exit non-zero when a download failed or a sum differs.
File names are reduced to ``[A-Za-z0-9._-]``, so product metadata never reaches the shell
unquoted.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from eohub.model.product import Product
from eohub.protocols.dhus.odata_v1.entities import media_name, product_path
from eohub.protocols.dhus.odata_v1.formats import metalink_document

ODATA_SERVICE = "/odata/v1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MD5 = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class DownloadItem:
    """One file to download: safe local name, path below the OData service, size, MD5."""

    name: str
    path: str
    size: int
    md5: str | None


def safe_filename(name: str, fallback: str) -> str:
    """``name`` reduced to letters, digits, ``.``, ``_`` and ``-`` (never starting with ``.``
    or ``-``); ``fallback`` when nothing is left."""
    cleaned = _UNSAFE.sub("_", name).lstrip(".-")[:200]
    return cleaned or fallback


def download_items(products: Iterable[Product]) -> list[DownloadItem]:
    """The online products as download items, each with a distinct file name."""
    items: list[DownloadItem] = []
    taken: set[str] = set()
    for product in products:
        if not product.online or product.archive_key is None:
            continue
        name = safe_filename(media_name(product), f"{product.id}.zip")
        if name in taken:
            name = f"{product.id}-{name}"
        taken.add(name)
        md5 = (product.checksum("MD5") or "").lower()
        path = f"/{product_path(product.id)}/$value"
        items.append(DownloadItem(name, path, product.size, md5 if _MD5.fullmatch(md5) else None))
    return items


def metalink(items: list[DownloadItem], service: str) -> bytes:
    """Metalink 4 (name, size, MD5, URL of each file); ``service`` is the OData service URL."""
    return metalink_document([(i.name, i.size, i.md5, f"{service}{i.path}") for i in items])


def url_list(items: list[DownloadItem], service: str) -> str:
    """One download URL per line."""
    return "".join(f"{service}{i.path}\n" for i in items)


@dataclass(frozen=True)
class _Tool:
    name: str
    setup: str  # writes the credentials file "$auth"
    fetch: str  # downloads "$BASE$1" to "$2", resuming


_WGET = _Tool(
    "wget",
    'printf \'user = %s\\npassword = %s\\n\' "$EOHUB_USER" "$EOHUB_PASSWORD" > "$auth"',
    'WGETRC="$auth" wget --continue --no-verbose --output-document="$2" -- "$BASE$1"',
)
_CURL = _Tool(
    "curl",
    "quoted() { printf '%s' \"$1\" | sed 's/[\\\\\"]/\\\\&/g'; }\n"
    'printf \'user = "%s:%s"\\n\' "$(quoted "$EOHUB_USER")" "$(quoted "$EOHUB_PASSWORD")"'
    ' > "$auth"',
    'curl --config "$auth" --fail --location --silent --show-error -C - --output "$2" -- "$BASE$1"',
)


def wget_script(items: list[DownloadItem], service: str, *, owner: str, made: datetime) -> str:
    """A bash script downloading ``items`` with wget (``--continue``) and checking MD5s."""
    return _script(_WGET, items, service, owner=owner, made=made)


def curl_script(items: list[DownloadItem], service: str, *, owner: str, made: datetime) -> str:
    """A bash script downloading ``items`` with curl (``-C -``) and checking MD5s."""
    return _script(_CURL, items, service, owner=owner, made=made)


def _script(
    tool: _Tool, items: list[DownloadItem], service: str, *, owner: str, made: datetime
) -> str:
    total = sum(i.size for i in items)
    fetches = "\n".join(
        f"fetch {shlex.quote(i.path)} {shlex.quote(i.name)} {i.size}" for i in items
    )
    sums = "".join(f"{i.md5}  {i.name}\n" for i in items if i.md5)
    unchecked = [i.name for i in items if not i.md5]
    lines = [
        "#!/usr/bin/env bash",
        f"# Downloads the {len(items)} products of an eohub cart ({total:,} bytes) with "
        f"{tool.name}, then checks their MD5 sums.",
        f"# Made for {_comment(owner)} on {made:%Y-%m-%d %H:%M} UTC. Run it again to resume: "
        "complete files are skipped.",
        "# Usage: bash <this script> [target folder]   (default: the current folder)",
        "# Credentials: EOHUB_USER and EOHUB_PASSWORD, asked for when not set.",
        "set -u",
        f"for tool in {tool.name} md5sum; do",
        '  command -v "$tool" >/dev/null || { echo "this script needs $tool" >&2; exit 2; }',
        "done",
        'mkdir -p -- "${1:-.}" && cd -- "${1:-.}" || exit 2',
        'if [ -z "${EOHUB_USER:-}" ]; then read -r -p "eohub username: " EOHUB_USER; fi',
        'if [ -z "${EOHUB_PASSWORD:-}" ]; then',
        '  read -r -s -p "eohub password: " EOHUB_PASSWORD; echo >&2',
        "fi",
        'if [ -z "$EOHUB_USER" ] || [ -z "$EOHUB_PASSWORD" ]; then',
        '  echo "set EOHUB_USER and EOHUB_PASSWORD (or type them when asked)" >&2; exit 2',
        "fi",
        "auth=$(mktemp) || exit 2",
        "trap 'rm -f -- \"$auth\"' EXIT",
        'chmod 600 "$auth"',
        tool.setup,
        f"BASE={shlex.quote(service)}",
        "failed=0",
        "fetch() {",
        '  if [ -f "$2" ] && [ "$(wc -c < "$2")" -eq "$3" ]; then return; fi',
        f'  {tool.fetch} || {{ echo "download failed: $2" >&2; failed=1; }}',
        "}",
        fetches,
        'if [ "$failed" -ne 0 ]; then',
        '  echo "some downloads failed: run this script again to resume them" >&2; exit 1',
        "fi",
    ]
    if unchecked:
        lines.append(f"echo 'no checksum known for: {' '.join(unchecked)}' >&2")
    if sums:
        lines += [
            "md5sum -c <<'EOHUB_SUMS' || { echo 'checksum mismatch: delete the files marked "
            "FAILED and run this script again' >&2; exit 1; }",
            sums + "EOHUB_SUMS",
        ]
    lines.append('echo "all downloads complete"')
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    return re.sub(r"[^\w.@-]", "_", text)
