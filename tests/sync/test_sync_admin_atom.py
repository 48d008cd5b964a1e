"""The OData v1 ``Synchronizers`` admin API in Atom, as DHuS clients speak it, on a real server
on 127.0.0.1: entry bodies for POST and PUT/MERGE (the shape of DHuS's ``dhus_sync_script``
``body.txt``), Atom answers when asked, and malformed or hostile XML refused with an OData
error document (never a 500), changing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from api.odata_support import live_server
from eohub.config import Settings
from eohub.model.user import Role
from eohub.sync import SyncService
from eohub.sync.model import SyncDefinition, SyncMode, SyncStatus, VerifyMode
from eohub.wiring import build_hub, build_sync

MANAGER = ("manager", "manager-password")
SOURCE = "http://127.0.0.1:9/odata/v1"  # never contacted: the synchronisers stay stopped
ATOM = "http://www.w3.org/2005/Atom"
D = "http://schemas.microsoft.com/ado/2007/08/dataservices"
M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
SEND_ATOM = {"Content-Type": "application/atom+xml", "Accept": "application/atom+xml"}
AREA = "intersects POLYGON((0 40,10 40,10 50,0 50,0 40))"


def entry(properties: str, *, key: str = "0L") -> bytes:
    """An Atom entry as DHuS's sync scripts write it, with ``properties`` (``d:`` elements)."""
    return f"""<entry xmlns:d="{D}" xmlns:m="{M}" xmlns="{ATOM}">
   <id>http://localhost:8080/odata/v1/Synchronizers({key})</id>
   <title type="text">Synchronizer</title>
   <updated>2015-06-29T09:32:15.922Z</updated>
   <category term="DHuS.Synchronizer"
             scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"/>
   <content type="application/xml">
      <m:properties>
{properties}
      </m:properties>
   </content>
</entry>""".encode()


CREATE = entry(f"""         <d:Schedule>10m</d:Schedule>
         <d:Request>stop</d:Request>
         <d:ServiceUrl>{SOURCE}</d:ServiceUrl>
         <d:Label>be1</d:Label>
         <d:ServiceLogin>root</d:ServiceLogin>
         <d:ServicePassword>p&amp;ss</d:ServicePassword>
         <d:PageSize>5</d:PageSize>
         <d:CopyProduct>true</d:CopyProduct>
         <d:FilterParam>substringof('S1A_',Name)</d:FilterParam>
         <d:SourceCollection m:null="true" />
        <d:GeoFilter>{AREA}</d:GeoFilter>""")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, SyncService]]:
    hub = build_hub(Settings(data_dir=tmp_path / "hub"))  # type: ignore[call-arg]
    hub.accounts.create(*MANAGER, [Role.SEARCH, Role.SYSTEM_MANAGER])
    try:
        with live_server(hub) as url:
            yield f"{url}/odata/v1/Synchronizers", build_sync(hub)
    finally:
        hub.close()


def _properties(document: etree._Element) -> dict[str, str | None]:
    found = document.find(f"{{{ATOM}}}content/{{{M}}}properties")
    assert found is not None
    return {
        etree.QName(e).localname: None if e.get(f"{{{M}}}null") == "true" else (e.text or "")
        for e in found
    }


def test_an_atom_entry_creates_a_synchronizer_as_dhus_scripts_send_it(
    served: tuple[str, SyncService],
) -> None:
    api, syncs = served
    created = httpx.post(api, content=CREATE, headers=SEND_ATOM, auth=MANAGER)
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith("application/atom+xml;type=entry")
    document = etree.fromstring(created.content)
    assert document.tag == f"{{{ATOM}}}entry"
    props = _properties(document)
    assert (props["Label"], props["ServicePassword"], props["CopyProduct"]) == (
        "be1", "***", "true")  # fmt: skip
    assert (props["Status"], props["Request"], props["PageSize"]) == ("STOPPED", "stop", "5")
    assert props["SourceCollection"] is None and props["ServiceUrl"] == SOURCE
    key = props["Id"]
    assert created.headers["location"] == f"{api}({key}L)"
    assert document.findtext(f"{{{ATOM}}}id") == f"{api}({key}L)"

    d = syncs.get("be1").definition
    assert (d.username, d.password, d.page_size, d.mode) == ("root", "p&ss", 5, SyncMode.COPY)
    assert (d.filter, d.geofilter, d.collection, d.schedule) == (
        "substringof('S1A_',Name)", AREA, None, "10m")  # fmt: skip
    assert syncs.get("be1").status is SyncStatus.PAUSED


def test_put_and_merge_with_atom_change_only_the_properties_given(
    served: tuple[str, SyncService],
) -> None:
    api, syncs = served
    key = syncs.add(_definition()).id
    before = syncs.pause(key)
    update = entry("""<d:Schedule>1h</d:Schedule>
        <d:FilterParam m:null="true" />
        <d:ServicePassword>***</d:ServicePassword>
        <d:Sources><d:element>http://127.0.0.1:10/odata/v1</d:element>
                   <d:element>http://127.0.0.1:11/odata/v1</d:element></d:Sources>
        <d:SourceRollingWindow>30d</d:SourceRollingWindow>""", key=f"{key}L")  # fmt: skip
    changed = httpx.put(f"{api}({key}L)", content=update, headers=SEND_ATOM, auth=MANAGER)
    assert changed.status_code == 204, changed.text
    after = syncs.get(key)
    d = after.definition
    assert (d.schedule, d.filter, d.password, d.source_window) == ("1h", None, "pw", "P30D")
    assert d.sources == ("http://127.0.0.1:10/odata/v1", "http://127.0.0.1:11/odata/v1")
    assert (d.label, d.url, d.page_size) == ("t0", SOURCE, 3)  # not in the body: kept
    assert after.status is SyncStatus.PAUSED and after.created == before.created

    # Unscheduled again (so the served hub's scheduler leaves it alone), and started.
    body = entry('<d:Schedule m:null="true"/><d:Request>start</d:Request>')
    started = httpx.request("MERGE", f"{api}({key})", auth=MANAGER, content=body,
                            headers={"Content-Type": "application/atom+xml"})  # fmt: skip
    assert started.status_code == 204, started.text
    assert syncs.get(key).status is SyncStatus.RUNNING
    assert syncs.get(key).definition.schedule is None


def test_atom_or_json_as_asked(served: tuple[str, SyncService]) -> None:
    api, syncs = served
    key = syncs.add(_definition()).id
    feed = httpx.get(api, params={"$format": "atom"}, auth=MANAGER)
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/atom+xml;type=feed")
    entries = etree.fromstring(feed.content).findall(f"{{{ATOM}}}entry")
    assert [_properties(e)["Label"] for e in entries] == ["t0"]
    assert _properties(entries[0])["ServicePassword"] == "***"
    # The skip list's figures are in Atom too, and MaxFailures can be set from it.
    assert (_properties(entries[0])["SkippedProducts"], _properties(entries[0])["MaxFailures"]) \
        == ("0", "5")  # fmt: skip
    assert _properties(entries[0])["Verify"] == "all"
    assert _properties(entries[0])["FileChecksums"] == "false"
    body = entry("<d:MaxFailures>2</d:MaxFailures><d:Verify>blake3</d:Verify>"
                 "<d:FileChecksums>true</d:FileChecksums>")  # fmt: skip
    limit = httpx.request("MERGE", f"{api}({key})", auth=MANAGER, headers=SEND_ATOM, content=body)
    assert limit.status_code == 204, limit.text
    changed = syncs.get(key).definition
    assert (changed.max_failures, changed.verify, changed.file_checksums) == (
        2, VerifyMode.BLAKE3, True)  # fmt: skip
    bad = httpx.patch(f"{api}({key})", json={"Verify": "none"}, auth=MANAGER)
    assert bad.status_code == 400 and "Verify must be one of all, blake3" in bad.text
    one = httpx.get(f"{api}({key})", headers={"Accept": "application/atom+xml"}, auth=MANAGER)
    assert one.headers["content-type"].startswith("application/atom+xml;type=entry")
    assert _properties(etree.fromstring(one.content))["ServiceLogin"] == "u"
    xml = httpx.get(f"{api}({key})", params={"$format": "xml"}, auth=MANAGER)
    assert xml.headers["content-type"].startswith("application/xml")
    preferred = httpx.get(api, auth=MANAGER,
                          headers={"Accept": "application/json, application/atom+xml"})  # fmt: skip
    assert preferred.json()["d"]["results"][0]["Label"] == "t0"
    assert httpx.get(api, auth=MANAGER).json()["d"]["results"][0]["Id"] == key  # the default
    assert httpx.get(api, params={"$format": "csv"}, auth=MANAGER).status_code == 400

    # An Atom body is answered in Atom unless JSON is asked for.
    body = CREATE.replace(b"be1", b"be2")
    plain = httpx.post(api, content=body, headers={"Content-Type": "application/atom+xml"},
                       auth=MANAGER)  # fmt: skip
    assert plain.status_code == 201 and plain.headers["content-type"].startswith(
        "application/atom+xml")  # fmt: skip
    as_json = httpx.post(api, content=CREATE.replace(b"be1", b"be3"), auth=MANAGER,
                         headers={"Content-Type": "application/atom+xml",
                                  "Accept": "application/json"})  # fmt: skip
    assert as_json.status_code == 201 and as_json.json()["d"]["Label"] == "be3"


TARGET = (b'<link rel="http://schemas.microsoft.com/ado/2007/08/dataservices/related/'
          b'TargetCollection" href="Collections(\'S1\')"/>')  # fmt: skip
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE entry [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>""" + entry("<d:Label>&lol3;</d:Label>")
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE entry SYSTEM "http://127.0.0.1:9/entry.dtd">'
EXTERNAL = EXTERNAL_DTD + entry(f"<d:Label>x</d:Label><d:ServiceUrl>{SOURCE}</d:ServiceUrl>")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not well-formed XML"),
        (b"<entry", "not well-formed XML"),
        (entry("<d:Label>x</d:Label>")[:-10], "not well-formed XML"),
        (entry("<d:Label>&undefined;</d:Label>"), "not well-formed XML"),
        (BILLION_LAUGHS, "declares a DTD"),
        (EXTERNAL, "declares a DTD"),
        (f'<feed xmlns="{ATOM}"/>'.encode(), "not an Atom entry"),
        (f'<entry xmlns="{ATOM}"><title>x</title></entry>'.encode(), "no m:properties"),
        (entry("<Label>x</Label>"), "is not in the d: namespace"),
        (entry("<d:Label><d:x>y</d:x></d:Label>"), "must be a simple value"),
        (entry("<d:Label>a</d:Label><d:Label>b</d:Label>"), "given twice"),
        (entry("<d:Label>a</d:Label>").replace(b"<content", TARGET + b"<content"),
         "TargetCollection cannot be set"),
        (entry(f"<d:Label>x</d:Label><d:ServiceUrl>{SOURCE}</d:ServiceUrl>"
               "<d:RemoteIncoming>/mnt/nas</d:RemoteIncoming>"), "RemoteIncoming"),
        (entry(f"<d:Label>x</d:Label><d:ServiceUrl>{SOURCE}</d:ServiceUrl>"
               "<d:PageSize>many</d:PageSize>"), "PageSize must be an integer"),
        (entry(f"<d:Label>x</d:Label><d:ServiceUrl>{SOURCE}</d:ServiceUrl>"
               "<d:Schedule>sometimes</d:Schedule>"), "sometimes"),
        (entry(f"<d:Label>x</d:Label><d:ServiceUrl>{SOURCE}</d:ServiceUrl>"
               "<d:PageSize>5000</d:PageSize>"), "page size is 1 to 1000"),
    ],
)  # fmt: skip
def test_bad_atom_bodies_get_an_odata_error_and_change_nothing(
    served: tuple[str, SyncService], body: bytes, message: str
) -> None:
    api, syncs = served
    key = syncs.add(_definition()).id
    before = syncs.get(key)
    for response in (
        httpx.post(api, content=body, headers=SEND_ATOM, auth=MANAGER),
        httpx.put(f"{api}({key})", content=body, headers=SEND_ATOM, auth=MANAGER),
    ):
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/xml")
        error = etree.fromstring(response.content)
        assert error.tag == f"{{{M}}}error"
        assert message in (error.findtext(f"{{{M}}}message") or "")
        assert response.headers["cause-message"]
    as_json = httpx.post(api, content=body, auth=MANAGER,
                         headers={"Content-Type": "application/atom+xml",
                                  "Accept": "application/json"})  # fmt: skip
    assert as_json.status_code == 400 and message in as_json.json()["error"]["message"]["value"]
    assert syncs.list_all() == [before]


def _definition() -> SyncDefinition:
    return SyncDefinition(label="t0", url=SOURCE, username="u", password="pw", page_size=3,
                          filter="startswith(Name,'S2')")  # fmt: skip
