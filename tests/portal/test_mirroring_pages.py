"""The hubs page and the mirroring administration page through the real application (real
SQLite hub, synchronisers and eviction policies in its database), as a manager and not:
listing, adding, pausing, changing and removing synchronisers."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from accounts_support import GOOD_PASSWORD, Browser, portal_hub

from eohub.demo.factory import demo_products
from eohub.model import Role
from eohub.query import Query
from eohub.sync import SyncService
from eohub.sync.model import Cursor, SyncCounters, SyncDefinition, Synchroniser, SyncStatus
from eohub.sync.policy import EvictionPolicy
from eohub.wiring import Hub, build_sync

UPSTREAM = "http://127.0.0.1:9/odata/v1"  # never contacted: nothing runs the synchronisers here
TOKEN_URL = "https://identity.example.org/auth/realms/CDSE/protocol/openid-connect/token"
XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
PAGE = "/admin/mirroring"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with portal_hub(tmp_path) as built:
        built.accounts.create("keeper", GOOD_PASSWORD, [Role.DATA_MANAGER, Role.SEARCH])
        built.accounts.create("root", GOOD_PASSWORD, [Role.SYSTEM_MANAGER])
        built.accounts.create("bob", GOOD_PASSWORD)
        yield built


@pytest.fixture
def syncs(hub: Hub) -> SyncService:
    service = build_sync(hub)
    extra = ("http://127.0.0.1:10/odata/v1",)
    service.add(SyncDefinition(label=f"s2 {XSS}", url=UPSTREAM, filter="startswith(Name,'S2')",
                               sources=extra, schedule="10m"))  # fmt: skip
    return service


def _browser(hub: Hub, username: str | None) -> Browser:
    browser = Browser(hub)
    if username is not None:
        assert browser.log_in(username, GOOD_PASSWORD).status_code == 303
    return browser


@pytest.fixture
def keeper(hub: Hub) -> Iterator[Browser]:
    browser = _browser(hub, "keeper")
    yield browser
    browser.close()


@pytest.fixture
def bob(hub: Hub) -> Iterator[Browser]:
    browser = _browser(hub, "bob")
    yield browser
    browser.close()


def _status(syncs: SyncService) -> SyncStatus:
    (only,) = syncs.list_all()
    return only.status


def test_the_mirroring_page_lists_synchronisers_and_policies(
    hub: Hub, syncs: SyncService, keeper: Browser
) -> None:
    assert hub.evictor is not None
    hub.evictor.add(EvictionPolicy("month", keep_s=30 * 86400))
    page = keeper.get(PAGE)
    assert page.status_code == 200, page.text
    assert ESCAPED in page.text and XSS not in page.text
    row = page.text.split('<tr id="sync-1"', 1)[1].split("</tr>", 1)[0]
    assert 'sync-status">running' in row and UPSTREAM in row and "127.0.0.1:10" in row
    assert "success 50 %" in row and "every 10m" in row and ">Pause</button>" in row
    assert 'href="/admin/mirroring/evictions/month"' in page.text and "30 d" in page.text
    assert 'href="/admin/mirroring"' in page.text  # the navigation links the page


def test_anonymous_visitors_are_sent_to_log_in_and_users_get_403(
    hub: Hub, syncs: SyncService, bob: Browser
) -> None:
    visitor = _browser(hub, None)
    try:
        page = visitor.get(PAGE)
        assert page.status_code == 303 and page.headers["location"] == f"/login?next={PAGE}"
    finally:
        visitor.close()
    for path in (PAGE, f"{PAGE}/evictions/any"):
        page = bob.get(path)
        assert page.status_code == 403 and "DATA_MANAGER" in page.text, path
    token = bob.csrf("/account")
    assert bob.post(f"{PAGE}/1/pause", {"csrf_token": token}).status_code == 403
    added = bob.post(f"{PAGE}/add", {"csrf_token": token, "label": "x", "sources": UPSTREAM})
    assert added.status_code == 403
    assert _status(syncs) is SyncStatus.RUNNING and len(syncs.list_all()) == 1


def test_a_system_manager_may_use_the_page_too(hub: Hub, syncs: SyncService) -> None:
    root = _browser(hub, "root")
    try:
        assert root.get(PAGE).status_code == 200
    finally:
        root.close()


def test_forms_without_the_csrf_token_change_nothing(syncs: SyncService, keeper: Browser) -> None:
    for token in ({}, {"csrf_token": "forged"}):
        page = keeper.post(f"{PAGE}/1/pause", token)
        assert page.status_code == 403 and "Request refused" in page.text
        added = keeper.post(f"{PAGE}/add", {**token, "label": "other", "sources": UPSTREAM})
        assert added.status_code == 403
    assert _status(syncs) is SyncStatus.RUNNING and len(syncs.list_all()) == 1


def test_pause_resume_and_run_now(syncs: SyncService, keeper: Browser) -> None:
    paused = keeper.submit(f"{PAGE}/1/pause", {}, form_page=PAGE)
    assert paused.status_code == 303 and paused.headers["location"] == f"{PAGE}?done=paused"
    assert _status(syncs) is SyncStatus.PAUSED
    page = keeper.get(paused.headers["location"])
    assert "Synchroniser paused" in page.text and 'sync-status">paused' in page.text
    assert ">Resume</button>" in page.text and "Run now" not in page.text

    resumed = keeper.submit(f"{PAGE}/1/resume", {}, form_page=PAGE)
    assert resumed.status_code == 303 and _status(syncs) is SyncStatus.RUNNING
    ran = keeper.submit(f"{PAGE}/1/run", {}, form_page=PAGE)
    assert ran.status_code == 303 and syncs.get(1).next_run is not None
    for key in ("99", "abc", "1" * 30):
        missing = keeper.submit(f"{PAGE}/{key}/pause", {}, form_page=PAGE)
        assert missing.status_code == 404 and "No such synchroniser" in missing.text


def test_adding_a_synchroniser(syncs: SyncService, keeper: Browser) -> None:
    form = {"label": "s1 grd", "sources": f"{UPSTREAM}\nhttp://127.0.0.1:11/catalogue/odata/v1",
            "username": "mirror", "password": " secret ", "filter": "platformname:Sentinel-1",
            "filter_language": "opensearch", "area": "intersects POINT(5 45)", "mode": "copy",
            "schedule": "5m", "token_url": TOKEN_URL}  # fmt: skip
    added = keeper.submit(f"{PAGE}/add", form, form_page=PAGE)
    assert added.status_code == 303 and added.headers["location"] == f"{PAGE}?done=added"
    d = syncs.get("s1 grd").definition
    assert (d.url, d.sources, d.username, d.password) == (
        UPSTREAM,
        ("http://127.0.0.1:11/catalogue/odata/v1",),
        "mirror",
        " secret ",
    )
    assert (d.filter_language.value, d.mode.value, d.schedule, d.geofilter) == (
        "opensearch", "copy", "5m", "intersects POINT(5 45)")  # fmt: skip
    assert d.token_url == TOKEN_URL
    again = keeper.submit(f"{PAGE}/add", form, form_page=PAGE)
    assert again.status_code == 400 and "already exists" in again.text
    assert "secret" not in again.text  # credentials are never sent back


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("filter", "startswith(Name,", "The filter does not parse"),
        ("area", "near POINT(1 2)", "The area does not parse"),
        ("sources", "ftp://example.org/odata/v1", "is not an http(s) URL"),
        ("sources", "", "at least one source URL"),
        ("label", "", "1 to 200 characters"),
        ("schedule", "sometimes", "schedule"),
        ("mode", "all", "metadata only or copy"),
        ("filter_language", "sql", "filter languages"),
        ("token", "abc", "not both"),
        ("token_url", "ftp://example.org/token", "is not an http(s) URL"),
        ("source_logins", "http://127.0.0.1:99/odata/v1 user=a password=b", "names no source"),
        ("source_logins", f"{UPSTREAM} user=a pasword=b", "&#39;pasword&#39; is not one of"),
        ("source_logins", f"{UPSTREAM} user=a token=t", "not both"),
        ("source_logins", f'{UPSTREAM} user="a password=b', "a quote is not closed"),
        ("source_logins", f"{UPSTREAM} user=a\n{UPSTREAM} token=t", "one line a source"),
    ],
)
def test_a_bad_form_shows_its_error_and_stores_nothing(
    syncs: SyncService, keeper: Browser, field: str, value: str, message: str
) -> None:
    form = {"label": "bad one", "sources": UPSTREAM, "username": "u", "password": "p",
            "logins_field": "1", field: value}  # fmt: skip
    page = keeper.submit(f"{PAGE}/add", form, form_page=PAGE)
    assert page.status_code == 400, page.text
    assert f'id="{field}-error"' in page.text and message in page.text
    assert 'aria-invalid="true"' in page.text and 'id="form-errors"' in page.text
    assert [s.definition.label for s in syncs.list_all()] == [f"s2 {XSS}"]


def test_eviction_preview_changes_nothing(hub: Hub, keeper: Browser, tmp_path: Path) -> None:
    assert hub.evictor is not None
    summary = hub.ingestor().ingest_all(demo_products(3, tmp_path / "incoming", seed=5))
    assert not summary.rejected
    hub.evictor.add(EvictionPolicy("a/b week", keep_s=7 * 86400))
    hub.evictor.add(EvictionPolicy("tiny", max_bytes=1))
    page = keeper.get(f"{PAGE}/evictions/a%2Fb%20week")
    assert page.status_code == 200 and "Nothing to evict now" in page.text
    assert "evict 0 products" in page.text
    page = keeper.get(f"{PAGE}/evictions/tiny")
    assert page.status_code == 200 and "evict 3 products" in page.text
    assert "over the byte budget" in page.text and page.text.count('href="/products/') == 3
    online = hub.catalogue.search(Query(limit=10)).items
    assert len(online) == 3 and all(p.online and p.archive_key for p in online)
    assert keeper.get(f"{PAGE}/evictions/nope").status_code == 404


def test_the_hubs_page_shows_this_hub_and_its_sources(
    hub: Hub, syncs: SyncService, bob: Browser
) -> None:
    assert hub.evictor is not None
    hub.evictor.add(EvictionPolicy("month", keep_s=30 * 86400))
    hub.evictor.add(EvictionPolicy("budget", max_bytes=10**12))
    page = bob.get("/hubs")
    assert page.status_code == 200
    rows = page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split('<tr class="hub-row')
    assert len(rows) == 4  # before the first row, this hub, two sources
    assert "this hub" in rows[1] and "30 d" in rows[1] and "<td>1</td>" in rows[1]
    assert UPSTREAM in rows[2] and "not read yet" in rows[2] and ESCAPED in rows[2]
    assert "startswith(Name,&#39;S2&#39;)" in rows[2] and XSS not in page.text
    assert 'href="/hubs"' in page.text
    registry = bob.get("/api/hubs").json()
    assert registry["hub"]["rolling_window"] == "P30D"


def test_the_hubs_page_needs_the_search_right(tmp_path: Path) -> None:
    with portal_hub(tmp_path, auth={"anonymous_search": False}) as hub:
        hub.accounts.create("viewer", GOOD_PASSWORD, [Role.DOWNLOAD])
        visitor = _browser(hub, None)
        viewer = _browser(hub, "viewer")
        try:
            page = visitor.get("/hubs")
            assert page.status_code == 303 and page.headers["location"] == "/login?next=/hubs"
            assert viewer.get("/hubs").status_code == 403
        finally:
            visitor.close()
            viewer.close()


# -- edit and remove ------------------------------------------------------------------------------
SECRET = "s3cret-at-the-source"


@pytest.fixture
def mirror(syncs: SyncService) -> Synchroniser:
    """A second synchroniser with credentials and some progress (cursor and counters)."""
    added = syncs.add(SyncDefinition(label="mirror", url=UPSTREAM, username="mirror",
                                     password=SECRET, page_size=7))  # fmt: skip
    syncs.store.save_progress(
        added.evolve(cursor=Cursor(1_700_000_000_000, False, None),
                     counters=SyncCounters(products=12, bytes=3_000))
    )  # fmt: skip
    return syncs.get(added.id)


def _edit_form(**changes: str) -> dict[str, str]:
    """The edit form of :func:`mirror` as the page fills it, with ``changes``."""
    form = {"label": "mirror", "sources": UPSTREAM, "username": "mirror", "password": "",
            "token": "", "filter": "", "filter_language": "odata", "area": "",
            "mode": "metadata", "schedule": "", "streams": "4", "source_window": ""}  # fmt: skip
    form.update(changes)
    if "source_logins" in changes:
        form["logins_field"] = "1"  # the page's marker: the logins field is on the form
    return form


def test_the_edit_form_shows_the_definition_without_its_secrets(
    mirror: Synchroniser, keeper: Browser
) -> None:
    page = keeper.get(PAGE)
    row = page.text.split(f'<tr id="sync-{mirror.id}"', 1)[1].split("</tr>", 1)[0]
    assert f'href="{PAGE}/{mirror.id}/edit"' in row and f'href="{PAGE}/{mirror.id}/remove"' in row
    form = keeper.get(f"{PAGE}/{mirror.id}/edit")
    assert form.status_code == 200, form.text
    assert 'value="mirror"' in form.text and UPSTREAM in form.text
    assert "user name and password" in form.text and SECRET not in form.text
    first = keeper.get(f"{PAGE}/1/edit")
    assert ESCAPED in first.text and XSS not in first.text
    assert "startswith(Name,&#39;S2&#39;)" in first.text and "127.0.0.1:10/odata/v1" in first.text


def test_editing_changes_the_definition_and_keeps_secrets_cursor_and_records(
    syncs: SyncService, mirror: Synchroniser, keeper: Browser
) -> None:
    path = f"{PAGE}/{mirror.id}/edit"
    form = _edit_form(sources=f"{UPSTREAM}\nhttp://127.0.0.1:12/odata/v1",
                      filter="platformname:Sentinel-1", filter_language="opensearch",
                      area="intersects POINT(5 45)", mode="copy", schedule="1h", streams="8",
                      source_window="30d", verify="blake3", token_url=TOKEN_URL)  # fmt: skip
    saved = keeper.submit(path, form, form_page=path)
    assert saved.status_code == 303 and saved.headers["location"] == f"{PAGE}?done=edited"
    after = syncs.get(mirror.id)
    d = after.definition
    assert (d.username, d.password, d.token) == ("mirror", SECRET, None)  # blank: kept
    assert (d.url, d.sources) == (UPSTREAM, ("http://127.0.0.1:12/odata/v1",))
    assert (d.filter, d.filter_language.value, d.geofilter) == (
        "platformname:Sentinel-1", "opensearch", "intersects POINT(5 45)")  # fmt: skip
    assert (d.mode.value, d.schedule, d.streams, d.source_window) == ("copy", "1h", 8, "P30D")
    assert d.verify.value == "blake3" and d.token_url == TOKEN_URL
    assert TOKEN_URL in keeper.get(path).text  # shown back (it is no secret)
    cleared = keeper.submit(path, _edit_form(token_url=""), form_page=path)
    assert cleared.status_code == 303 and syncs.get(mirror.id).definition.token_url is None
    assert d.page_size == 7  # not on the form: kept
    assert after.cursor == mirror.cursor and after.counters == mirror.counters
    page = keeper.get(saved.headers["location"])
    assert "Synchroniser changed" in page.text and SECRET not in page.text


def test_logins_of_single_sources_are_set_shown_masked_and_kept(
    syncs: SyncService, mirror: Synchroniser, keeper: Browser
) -> None:
    path = f"{PAGE}/{mirror.id}/edit"
    other = "http://127.0.0.1:12/catalogue/odata/v1"
    lines = (f'{other} user=them password="pass with spaces" token-url={TOKEN_URL}\n'
             f"{UPSTREAM} token=tok-9")  # fmt: skip
    saved = keeper.submit(path, _edit_form(sources=f"{UPSTREAM}\n{other}", source_logins=lines),
                          form_page=path)  # fmt: skip
    assert saved.status_code == 303, saved.text

    def logins() -> list[tuple[str, str | None, str | None, str | None, str | None]]:
        found = syncs.get(mirror.id).definition.source_logins
        return sorted((x.url, x.username, x.password, x.token, x.token_url) for x in found)

    assert logins() == [(other, "them", "pass with spaces", None, TOKEN_URL),
                        (UPSTREAM, None, None, "tok-9", None)]  # fmt: skip
    d = syncs.get(mirror.id).definition
    assert (d.username, d.password) == ("mirror", SECRET)  # the synchroniser's own: kept
    # Shown with the secrets as ***; sent back so, the stored secrets stay.
    form = keeper.get(path).text
    assert "pass with spaces" not in form and "tok-9" not in form
    shown = form.split('id="source_logins"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    assert "password=***" in shown and "token=***" in shown and "user=them" in shown
    text = html.unescape(shown)
    again = keeper.submit(path, _edit_form(sources=f"{UPSTREAM}\n{other}", source_logins=text),
                          form_page=path)  # fmt: skip
    assert again.status_code == 303 and logins()[0][2] == "pass with spaces"
    # A refused form shows the typed lines with their secrets masked, and changes nothing.
    refused = keeper.submit(path, _edit_form(sources=f"{UPSTREAM}\n{other}", streams="0",
                                             source_logins=f"{other} user=x password=typed-pw"),
                            form_page=path)  # fmt: skip
    assert refused.status_code == 400 and "typed-pw" not in refused.text
    assert "password=***" in refused.text and logins()[0][2] == "pass with spaces"
    # Emptied: every source uses the synchroniser's own credentials again.
    cleared = keeper.submit(path, _edit_form(sources=f"{UPSTREAM}\n{other}", source_logins=""),
                            form_page=path)  # fmt: skip
    assert cleared.status_code == 303 and logins() == []


def test_credentials_are_replaced_only_when_typed_or_forgotten(
    syncs: SyncService, mirror: Synchroniser, keeper: Browser
) -> None:
    path = f"{PAGE}/{mirror.id}/edit"

    def credentials() -> tuple[str | None, str | None, str | None]:
        d = syncs.get(mirror.id).definition
        return d.username, d.password, d.token

    both = keeper.submit(path, _edit_form(token="tok-1"), form_page=path)
    assert both.status_code == 400 and 'id="token-error"' in both.text and "not both" in both.text
    assert credentials() == ("mirror", SECRET, None) and "tok-1" not in both.text
    assert keeper.submit(path, _edit_form(password="new pw"), form_page=path).status_code == 303
    assert credentials() == ("mirror", "new pw", None)
    assert keeper.submit(path, _edit_form(username="", token="tok-1"), form_page=path)\
        .status_code == 303  # fmt: skip
    assert credentials() == (None, None, "tok-1")
    assert keeper.submit(path, _edit_form(username=""), form_page=path).status_code == 303
    assert credentials() == (None, None, "tok-1")  # blank token: kept
    forgotten = _edit_form(username="", forget_credentials="on")
    assert keeper.submit(path, forgotten, form_page=path).status_code == 303
    assert credentials() == (None, None, None)
    lone = keeper.submit(path, _edit_form(username="", password="pw"), form_page=path)
    assert lone.status_code == 400 and "A password needs its user name" in lone.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("filter", "startswith(Name,", "The filter does not parse"),
        ("area", "near POINT(1 2)", "The area does not parse"),
        ("sources", "ftp://example.org/odata/v1", "is not an http(s) URL"),
        ("sources", "", "at least one source URL"),
        ("label", "", "1 to 200 characters"),
        ("label", f"s2 {XSS}", "already exists"),
        ("schedule", "sometimes", "schedule"),
        ("streams", "0", "1 to 64"),
        ("streams", "many", "1 to 64"),
        ("mode", "all", "metadata only or copy"),
        ("verify", "none", "checksum choices"),
        ("source_window", "soon", "rolling window"),
    ],
)
def test_a_bad_edit_shows_its_error_and_changes_nothing(
    syncs: SyncService, mirror: Synchroniser, keeper: Browser, field: str, value: str,
    message: str,
) -> None:  # fmt: skip
    path = f"{PAGE}/{mirror.id}/edit"
    form = {**_edit_form(filter="startswith(Name,'S1')"), field: value}
    page = keeper.submit(path, form, form_page=path)
    assert page.status_code == 400, page.text
    assert f'id="{field}-error"' in page.text and message in page.text
    assert 'aria-invalid="true"' in page.text and 'id="form-errors"' in page.text
    assert SECRET not in page.text
    assert syncs.get(mirror.id) == mirror


def test_removing_asks_first_and_keeps_the_products(
    hub: Hub, syncs: SyncService, mirror: Synchroniser, keeper: Browser, tmp_path: Path
) -> None:
    summary = hub.ingestor().ingest_all(demo_products(3, tmp_path / "incoming", seed=7))
    assert not summary.rejected
    path = f"{PAGE}/{mirror.id}/remove"
    confirm = keeper.get(path)
    assert confirm.status_code == 200 and 'id="remove-form"' in confirm.text
    assert "The 12 products it has synchronised stay in this hub" in confirm.text
    for token in ({}, {"csrf_token": "forged"}):
        assert keeper.post(path, token).status_code == 403
    assert syncs.get(mirror.id) == mirror
    removed = keeper.submit(path, {}, form_page=path)
    assert removed.status_code == 303 and removed.headers["location"] == f"{PAGE}?done=removed"
    assert [s.label for s in (x.definition for x in syncs.list_all())] == [f"s2 {XSS}"]
    page = keeper.get(removed.headers["location"])
    assert "the products it synchronised stay in this hub" in page.text
    assert hub.catalogue.count(Query()) == 3
    again = keeper.submit(path, {}, form_page=PAGE)
    assert again.status_code == 404 and "No such synchroniser" in again.text


def test_edit_and_remove_need_the_page_roles(
    hub: Hub, syncs: SyncService, mirror: Synchroniser, bob: Browser, keeper: Browser
) -> None:
    for action in ("edit", "remove"):
        assert bob.get(f"{PAGE}/{mirror.id}/{action}").status_code == 403
    token = bob.csrf("/account")
    edited = bob.post(f"{PAGE}/{mirror.id}/edit", {"csrf_token": token, **_edit_form(label="x")})
    assert edited.status_code == 403
    assert bob.post(f"{PAGE}/{mirror.id}/remove", {"csrf_token": token}).status_code == 403
    assert syncs.get(mirror.id) == mirror
    visitor = _browser(hub, None)
    try:
        page = visitor.get(f"{PAGE}/{mirror.id}/edit")
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    finally:
        visitor.close()
    for key in ("99", "abc"):
        assert keeper.get(f"{PAGE}/{key}/edit").status_code == 404
        assert keeper.get(f"{PAGE}/{key}/remove").status_code == 404
