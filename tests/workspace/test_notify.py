"""Saved-search mails, driven by products entering the catalogue of a hub built by build_hub.

Mails follow the catalogue's change feed: the server's background worker sends them; here each
test runs one round of that worker (``_round``) where a server would within a few seconds.
"""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from eohub.config import CatalogueSettings, MailSettings, ServerSettings, Settings
from eohub.demo.factory import demo_products
from eohub.demo.records import generate_products
from eohub.ingest.pipeline import Outcome
from eohub.ingest.watch import WatchOptions, watch
from eohub.model import Product, Role
from eohub.wiring import Hub, build_hub
from eohub.workspace.notify import FeedNotifications, SearchNotifier

PUBLIC = "https://hub.example.org"


KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgis)]


def _settings(kind: str, request: pytest.FixtureRequest, root: Path, **extra: object) -> Settings:
    if kind == "postgres":
        extra["catalogue"] = CatalogueSettings(dsn=request.getfixturevalue("postgres_dsn"))
    return Settings(data_dir=root, server=ServerSettings(public_url=PUBLIC), **extra)  # type: ignore[arg-type]


@pytest.fixture(params=KINDS)
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    built = build_hub(_settings(request.param, request, tmp_path / "hub"))
    built.accounts.create("alice", "alice-password", [Role.SEARCH], email="alice@example.org")
    yield built
    built.close()


def _round(hub: Hub) -> None:
    """One round of the hub's background worker (push, saved-search mails, pruning)."""
    hub.worker.run_once()


def _mails(hub: Hub) -> list[EmailMessage]:
    folder = hub.settings.outbox_path
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def _body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _split(products: list[Product], platform: str) -> tuple[list[Product], list[Product]]:
    return ([p for p in products if p.platform == platform],
            [p for p in products if p.platform != platform])  # fmt: skip


def _watch(hub: Hub, user: str, params: str, *, notify: bool = True) -> int:
    saved = hub.workspace.save_search(user, f"{user} watches {params}", params)
    if notify:
        hub.workspace.set_notify(user, saved.id, True)
    return saved.id


def test_new_matching_products_are_mailed_once(hub: Hub) -> None:
    products = list(generate_products(12, seed=21))
    wanted, others = _split(products, products[0].platform)
    assert wanted and others
    search_id = _watch(hub, "alice", f"platform={products[0].platform}")
    hub.catalogue.upsert([others[0], wanted[0], others[1]])
    _round(hub)
    mails = _mails(hub)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["To"] == "alice@example.org"
    assert "1 new product" in mail["Subject"]
    text = _body(mail)
    assert wanted[0].name in text and f"{PUBLIC}/products/{wanted[0].id}" in text
    assert others[0].name not in text and others[1].name not in text
    assert str(others[0].id) not in text and str(others[1].id) not in text
    assert hub.workspace.search("alice", search_id).last_notified is not None

    hub.catalogue.upsert([wanted[0], others[0]])  # replaced, not new: no mail
    _round(hub)
    assert len(_mails(hub)) == 1
    hub.catalogue.upsert(wanted[1:])
    _round(hub)
    later = [_body(m) for m in _mails(hub) if _body(m) != text]  # names sort within a second
    assert len(later) == 1
    assert all(p.name in later[0] for p in wanted[1:]) and wanted[0].name not in later[0]


def test_each_owner_gets_one_mail_for_all_their_searches(hub: Hub) -> None:
    hub.accounts.create("bob", "bob-password-1", [Role.SEARCH], email="bob@example.org")
    products = list(generate_products(12, seed=22))
    first, second = products[0], next(p for p in products if p.platform != products[0].platform)
    _watch(hub, "alice", f"platform={first.platform}")
    _watch(hub, "alice", f"platform={second.platform}")
    _watch(hub, "bob", f"platform={second.platform}")
    hub.catalogue.upsert([first, second])
    _round(hub)
    mails = {m["To"]: _body(m) for m in _mails(hub)}
    assert sorted(mails) == ["alice@example.org", "bob@example.org"]
    assert first.name in mails["alice@example.org"] and second.name in mails["alice@example.org"]
    assert second.name in mails["bob@example.org"] and first.name not in mails["bob@example.org"]


def test_no_mail_without_notification_an_address_or_an_unlocked_account(hub: Hub) -> None:
    hub.accounts.create("carol", "carol-password", [Role.SEARCH])  # no e-mail address
    hub.accounts.create("dave", "dave-password-1", [Role.SEARCH], email="dave@example.org")
    _watch(hub, "alice", "", notify=False)
    _watch(hub, "carol", "")
    _watch(hub, "dave", "")
    hub.accounts.lock("dave")
    hub.catalogue.upsert(generate_products(3, seed=23))
    _round(hub)
    assert _mails(hub) == []


def test_an_ingest_run_sends_one_mail_for_all_its_products(hub: Hub, tmp_path: Path) -> None:
    records = list(generate_products(4, seed=21))
    wanted, others = _split(records, "Sentinel-2A")
    assert len(wanted) == 2 and others
    _watch(hub, "alice", "platform=Sentinel-2A")
    inputs = demo_products(4, tmp_path / "incoming", seed=21)
    summary = hub.ingestor().ingest_all(inputs, workers=2)
    assert summary.ingested == 4 and not summary.rejected
    _round(hub)
    [mail] = _mails(hub)
    text = _body(mail)
    assert "2 new products" in mail["Subject"]
    assert all(p.name in text for p in wanted)
    assert not any(p.name in text for p in others)


def test_a_watched_folder_sends_one_mail_per_scan(hub: Hub, tmp_path: Path) -> None:
    records = list(generate_products(4, seed=26))
    wanted, others = _split(records, "Sentinel-1A")
    assert len(wanted) == 2 and others
    _watch(hub, "alice", "platform=Sentinel-1A")
    folder = tmp_path / "watched"
    demo_products(4, folder, seed=26)
    options = WatchOptions(folder=folder, interval_s=0, max_scans=2)  # stable at the 2nd scan
    assert watch(hub.ingestor(), options).ingested == 4
    _round(hub)
    [mail] = _mails(hub)
    text = _body(mail)
    assert all(p.name in text for p in wanted) and not any(p.name in text for p in others)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_mailer_never_fails_the_upsert_or_the_ingest(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    mail = MailSettings(smtp_host="127.0.0.1", smtp_port=_closed_port(), smtp_timeout_s=2)
    hub = build_hub(_settings(kind, request, tmp_path / "hub", mail=mail))
    try:
        hub.accounts.create("alice", "alice-password", [Role.SEARCH], email="alice@example.org")
        search_id = _watch(hub, "alice", "")
        products = list(generate_products(2, seed=25))
        assert hub.catalogue.upsert(products) == 2
        _round(hub)
        assert [p.id for p in hub.catalogue.get_many([p.id for p in products])] == [
            p.id for p in products
        ]
        result = hub.ingestor().ingest(demo_products(1, tmp_path / "incoming", seed=26)[0])
        assert result.outcome is Outcome.INGESTED
        _round(hub)
        assert hub.workspace.search("alice", search_id).last_notified is None
        assert not hub.settings.outbox_path.exists()
        refused = [r for r in caplog.records if "notification to alice not sent" in r.message]
        assert len(refused) == 2  # tried for the upsert and for the ingest, and logged
    finally:
        hub.close()


@pytest.mark.parametrize("kind", KINDS)
def test_products_written_by_another_process_are_mailed(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    """``eohub ingest`` runs in a process of its own: a second hub on the same databases
    stands for it. The server's worker still mails about what it wrote, once."""
    settings = _settings(kind, request, tmp_path / "hub")
    server = build_hub(settings)
    try:
        server.accounts.create("alice", "alice-password", [Role.SEARCH], email="alice@example.org")
        _watch(server, "alice", "")
        other = build_hub(settings)
        try:
            other.catalogue.upsert(generate_products(2, seed=27))
            other.catalogue.upsert(generate_products(3, seed=28))
        finally:
            other.close()
        _round(server)
        [mail] = _mails(server)
        assert "5 new products" in mail["Subject"]
        _round(server)  # the cursor moved: nothing is mailed twice
        assert len(_mails(server)) == 1
    finally:
        server.close()


def test_with_nobody_to_mail_the_cursor_skips_to_the_head(hub: Hub) -> None:
    """Without notifications on, one round moves the feed cursor to the head, however many
    events lie before it (none is read); products created once a search notifies are mailed."""
    notifier = SearchNotifier(hub.workspace.store, hub.mailer, portal_url=PUBLIC)
    mails = FeedNotifications(notifier, hub.catalogue, hub.subscriptions.store, max_events=2)
    hub.catalogue.upsert(generate_products(5, seed=31))
    mails.run_once()
    cursor = hub.subscriptions.store.cursor(FeedNotifications.CURSOR, lambda: -1)
    assert cursor == hub.catalogue.change_head()
    _watch(hub, "alice", "")
    hub.catalogue.upsert(generate_products(2, seed=32))
    mails.run_once()
    [mail] = _mails(hub)
    assert "2 new products" in mail["Subject"]
