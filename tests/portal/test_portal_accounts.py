"""Portal accounts through the real application: sign-up, mailed links, reset, account pages.

Each test runs a real hub (SQLite account file, mails written as ``.eml`` files to its outbox,
or sent to a real SMTP server on 127.0.0.1) and drives the pages as a browser does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from accounts_support import (
    GOOD_PASSWORD,
    Browser,
    free_port,
    link_in,
    mails,
    parse,
    path_of,
    portal_hub,
    sign_up_fields,
)
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from click.testing import CliRunner

from eohub.api.app import create_app
from eohub.auth import Accounts
from eohub.cli.main import main as cli
from eohub.config import Settings
from eohub.errors import Forbidden, Unauthenticated
from eohub.wiring import Hub, build_hub


@dataclass
class Clock:
    """A settable clock for the account service."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with portal_hub(tmp_path, server={"public_url": "https://hub.example.org/"}) as built:
        yield built


@pytest.fixture
def browser(hub: Hub) -> Iterator[Browser]:
    opened = Browser(hub)
    yield opened
    opened.close()


def _main(page: Any) -> str:
    """The page's ``<main>`` (what the page says, without the shared header)."""
    text: str = page.text
    return text[text.index("<main") : text.index("</main>")]


def _field_error(page: Any, field: str) -> str:
    """The message shown under ``field`` ("" when none)."""
    text: str = page.text
    marker = f'id="{field}-error">'
    return text.split(marker, 1)[1].split("</p>", 1)[0] if marker in text else ""


def _confirmed_user(browser: Browser, **fields: str) -> str:
    """Sign up and confirm through the mailed link; the username."""
    values = sign_up_fields(**fields)
    assert browser.sign_up(**values).status_code == 200
    link = link_in(mails(browser.hub)[-1], "signup/confirm")
    assert browser.get(path_of(link)).status_code == 200
    return values["username"]


# -- sign-up and confirmation ----------------------------------------------------------------


def test_sign_up_mail_confirm_then_log_in(hub: Hub, browser: Browser) -> None:
    page = browser.sign_up()
    assert page.status_code == 200 and "Check your mail" in page.text
    account = hub.accounts.store.get("alice")
    assert account is not None and account.user.pending
    assert account.user.firstname == "Alice" and account.user.country == "France"
    assert account.user.domain == "research" and account.user.roles == {"search", "download"}

    refused = browser.log_in("alice", GOOD_PASSWORD)
    assert refused.status_code == 403 and "not confirmed yet" in refused.text
    with pytest.raises(Forbidden):  # nor through the APIs
        hub.accounts.authenticate("alice", GOOD_PASSWORD)

    [mail] = mails(hub)
    assert mail["To"] == "alice@example.org" and "Confirm" in mail["Subject"]
    link = link_in(mail, "signup/confirm")
    assert link.startswith("https://hub.example.org/signup/confirm/")  # server.public_url
    confirmed = browser.get(path_of(link))
    assert confirmed.status_code == 200 and "Account confirmed" in confirmed.text
    assert not hub.accounts.user("alice").pending

    logged_in = browser.log_in("alice", GOOD_PASSWORD)
    assert logged_in.status_code == 303
    assert 'id="profile-username">alice<' in browser.get("/account").text

    reused = browser.get(path_of(link))
    assert reused.status_code == 400 and "not valid" in reused.text
    assert 'href="/signup/resend"' in reused.text


def test_link_uses_the_request_base_without_a_public_url(tmp_path: Path) -> None:
    with portal_hub(tmp_path) as hub:
        visitor = Browser(hub)
        try:
            assert visitor.sign_up().status_code == 200
        finally:
            visitor.close()
        assert link_in(mails(hub)[0], "signup/confirm").startswith("http://testserver/signup/")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "ALICE"}, "username", "The username &#39;ALICE&#39; is taken"),
        ({"username": "other", "email": "Alice@EXAMPLE.org"}, "email", "e-mail address exists"),
    ],
)
def test_duplicate_username_or_email_in_any_case(
    hub: Hub, browser: Browser, fields: dict[str, str], field: str, message: str
) -> None:
    _confirmed_user(browser)
    before = len(mails(hub))
    page = browser.sign_up(**fields)
    assert page.status_code == 400
    assert message in _field_error(page, field)
    assert len(hub.accounts.users()) == 1 and len(mails(hub)) == before


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"password": "short1"}, "password", "at least 8 characters"),
        (
            {"password": "Alice.Smith", "username": "alice.smith"},
            "password",
            "not be your username",
        ),
        ({"password": "Password123"}, "password", "too common"),
        ({"password": "qwertyuiop"}, "password", "too common"),
        ({"password": "zzzzzzzzzz"}, "password", "too common"),
        ({"password": GOOD_PASSWORD, "repeat": GOOD_PASSWORD + "!"}, "repeat", "differ"),
        ({"password": "x" * 1025}, "password", "at most 1024"),
    ],
)
def test_weak_passwords_are_refused(
    hub: Hub, browser: Browser, fields: dict[str, str], field: str, message: str
) -> None:
    page = browser.sign_up(**fields)
    assert page.status_code == 400
    assert message in _field_error(page, field)
    assert hub.accounts.users() == [] and mails(hub) == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "al ice"}, "username", "letters, digits"),
        ({"username": "..."}, "username", "at least one letter or digit"),
        ({"username": "a" * 65}, "username", "letters, digits"),
        ({"email": "not-an-address"}, "email", "not a valid e-mail address"),
        ({"email": "a@b"}, "email", "not a valid e-mail address"),
        ({"email": "a b@example.org"}, "email", "not a valid e-mail address"),
        ({"email": "x" * 250 + "@example.org"}, "email", "at most 254"),
        ({"email": ""}, "email", "Enter your e-mail address"),
        ({"firstname": ""}, "firstname", "required"),
        ({"lastname": "L" * 101}, "lastname", "At most 100"),
        ({"firstname": "A\x00lice"}, "firstname", "control characters"),
        ({"country": "Atlantis"}, "country", "from the list"),
        ({"domain": "piracy"}, "domain", "usage domain"),
    ],
)
def test_bad_fields_each_get_their_message(
    hub: Hub, browser: Browser, fields: dict[str, str], field: str, message: str
) -> None:
    page = browser.sign_up(**fields)
    assert page.status_code == 400
    assert message in _field_error(page, field)
    assert hub.accounts.users() == []


def test_the_form_keeps_what_was_typed_except_passwords(browser: Browser) -> None:
    page = browser.sign_up(password="short1", firstname="Zoë")
    assert 'value="Zoë"' in page.text and 'value="alice@example.org"' in page.text
    assert "short1" not in page.text
    assert '<option value="France" selected>' in page.text


def test_an_expired_confirmation_link_is_refused_and_a_new_one_works(hub: Hub) -> None:
    clock = Clock(datetime(2030, 1, 1, tzinfo=UTC))
    hub.accounts = Accounts(hub.accounts.store, clock=clock)
    visitor = Browser(hub)
    try:
        assert visitor.sign_up().status_code == 200
        old_link = link_in(mails(hub)[0], "signup/confirm")
        clock.now += timedelta(hours=hub.settings.portal.link_hours, seconds=1)
        expired = visitor.get(path_of(old_link))
        assert expired.status_code == 400 and "expired" in expired.text
        assert hub.accounts.user("alice").pending

        unknown = visitor.submit("/signup/resend", {"email": "nobody@example.org"})
        resent = visitor.submit("/signup/resend", {"email": "ALICE@example.org"})
        assert unknown.status_code == resent.status_code == 200
        assert _main(unknown).replace(" ", "") == _main(resent).replace(" ", "")
        assert len(mails(hub)) == 2  # only the pending account got one
        new_link = link_in(mails(hub)[1], "signup/confirm")
        assert new_link != old_link
        assert visitor.get(path_of(new_link)).status_code == 200
        assert not hub.accounts.user("alice").pending
        assert visitor.log_in("alice", GOOD_PASSWORD).status_code == 303
    finally:
        visitor.close()


def test_resend_does_not_mail_confirmed_accounts(hub: Hub, browser: Browser) -> None:
    _confirmed_user(browser)
    answer = browser.submit("/signup/resend", {"email": "alice@example.org"})
    assert answer.status_code == 200 and "Check your mail" in answer.text
    assert len(mails(hub)) == 1
    bad = browser.submit("/signup/resend", {"email": "nonsense"})
    assert bad.status_code == 400 and 'id="email-error"' in bad.text


def test_garbage_confirmation_links_are_refused(browser: Browser) -> None:
    for token in ("x", "A" * 43, "%3Cscript%3Ealert(1)%3C", "a" * 5000):
        page = browser.get(f"/signup/confirm/{token}")
        assert page.status_code == 400 and "not valid" in page.text
        assert "<script>alert" not in page.text and "<script" not in page.text.split("<main")[1]


def test_sign_up_can_be_closed(tmp_path: Path) -> None:
    with portal_hub(tmp_path, portal={"signup": False}) as hub:
        visitor = Browser(hub)
        try:
            assert visitor.get("/signup").status_code == 404
            token = visitor.csrf("/login")
            posted = visitor.post("/signup", {"csrf_token": token, **sign_up_fields()})
            assert posted.status_code == 404 and "closed" in posted.text
            assert 'href="/signup"' not in visitor.get("/login").text
            assert hub.accounts.users() == [] and mails(hub) == []
        finally:
            visitor.close()


# -- forgotten password -----------------------------------------------------------------------


def test_forgot_reset_ends_sessions_and_the_old_password(hub: Hub, browser: Browser) -> None:
    _confirmed_user(browser)
    assert browser.log_in("alice", GOOD_PASSWORD).status_code == 303
    assert browser.get("/account").status_code == 200

    other = Browser(hub)
    try:
        asked = other.submit("/password/forgot", {"login": "ALICE@example.org"})
        nobody = other.submit("/password/forgot", {"login": "nobody"})
        assert asked.status_code == nobody.status_code == 200
        assert _main(asked).replace(" ", "") == _main(nobody).replace(" ", "")
        reset = mails(hub)[-1]
        assert len(mails(hub)) == 2 and reset["To"] == "alice@example.org"
        path = path_of(link_in(reset, "password/reset"))

        assert other.get(path).status_code == 200  # showing the form does not use the link
        form = other.get(path)
        assert 'id="reset-form"' in form.text

        weak = other.submit(path, {"password": "password1", "repeat": "password1"})
        assert weak.status_code == 400 and "too common" in weak.text
        done = other.submit(path, {"password": "a new long secret", "repeat": "a new long secret"})
        assert done.status_code == 303 and done.headers["location"] == "/password/changed"
        assert "Password changed" in other.get("/password/changed").text

        with pytest.raises(Unauthenticated):
            hub.accounts.authenticate("alice", GOOD_PASSWORD)
        assert hub.accounts.authenticate("alice", "a new long secret").username == "alice"
        assert browser.get("/account").status_code == 303  # the old session has ended

        again = other.submit(
            path, {"password": "yet another secret", "repeat": "yet another secret"}
        )
        assert again.status_code == 400 and "not valid" in again.text
        assert hub.accounts.authenticate("alice", "a new long secret").username == "alice"
    finally:
        other.close()


def test_a_reset_to_the_username_keeps_a_usable_link(hub: Hub, browser: Browser) -> None:
    _confirmed_user(browser, username="longusername")
    browser.submit("/password/forgot", {"login": "longusername"})
    path = path_of(link_in(mails(hub)[-1], "password/reset"))
    refused = browser.submit(path, {"password": "LongUserName", "repeat": "LongUserName"})
    assert refused.status_code == 400 and "not be your username" in refused.text
    renewed = refused.text.split('action="/password/reset/', 1)[1].split('"', 1)[0]
    assert f"/password/reset/{renewed}" != path
    assert (
        browser.submit(
            path, {"password": GOOD_PASSWORD + "!", "repeat": GOOD_PASSWORD + "!"}
        ).status_code
        == 400
    )
    fine = browser.submit(
        f"/password/reset/{renewed}", {"password": "quite fine now", "repeat": "quite fine now"}
    )
    assert fine.status_code == 303
    assert hub.accounts.authenticate("longusername", "quite fine now")


def test_an_expired_reset_link_changes_nothing(hub: Hub) -> None:
    clock = Clock(datetime(2030, 1, 1, tzinfo=UTC))
    hub.accounts = Accounts(hub.accounts.store, clock=clock)
    hub.accounts.create("bob", GOOD_PASSWORD, email="bob@example.org")
    visitor = Browser(hub)
    try:
        visitor.submit("/password/forgot", {"login": "bob"})
        path = path_of(link_in(mails(hub)[-1], "password/reset"))
        clock.now += timedelta(hours=hub.settings.portal.link_hours, minutes=1)
        page = visitor.submit(path, {"password": "another secret", "repeat": "another secret"})
        assert page.status_code == 400 and "expired" in page.text
        assert hub.accounts.authenticate("bob", GOOD_PASSWORD).username == "bob"
    finally:
        visitor.close()


def test_no_reset_mail_for_pending_accounts_or_empty_input(hub: Hub, browser: Browser) -> None:
    browser.sign_up()
    assert browser.submit("/password/forgot", {"login": "alice"}).status_code == 200
    assert len(mails(hub)) == 1  # only the confirmation
    empty = browser.submit("/password/forgot", {"login": "  "})
    assert empty.status_code == 400 and 'id="login-error"' in empty.text


# -- CSRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "forged-token-value"])
def test_forms_without_the_right_csrf_token_change_nothing(
    hub: Hub, browser: Browser, token: str | None
) -> None:
    _confirmed_user(browser, username="bob", email="bob@example.org")
    assert browser.log_in("bob", GOOD_PASSWORD).status_code == 303
    before = hub.accounts.user("bob")
    sent = len(mails(hub))
    extra = {} if token is None else {"csrf_token": token}
    posts = {
        "/signup": sign_up_fields(),
        "/signup/resend": {"email": "bob@example.org"},
        "/password/forgot": {"login": "bob"},
        "/account/profile": {
            "email": "evil@example.org",
            "firstname": "Evil",
            "lastname": "X",
            "country": "France",
            "domain": "other",
        },
        "/account/password": {
            "current": GOOD_PASSWORD,
            "password": "hijacked secret",
            "repeat": "hijacked secret",
        },
        "/logout": {},
    }
    for path, data in posts.items():
        page = browser.post(path, {**data, **extra})
        assert page.status_code == 403, path
        assert "did not come from this site" in page.text
    assert hub.accounts.user("bob") == before
    assert hub.accounts.store.get("alice") is None and len(mails(hub)) == sent
    assert hub.accounts.authenticate("bob", GOOD_PASSWORD).username == "bob"
    assert browser.get("/account").status_code == 200  # still logged in


def test_another_browsers_csrf_token_is_refused(hub: Hub, browser: Browser) -> None:
    thief = Browser(hub)
    try:
        stolen = thief.csrf("/signup")
        page = browser.post("/signup", {"csrf_token": stolen, **sign_up_fields()})
        assert page.status_code == 403 and hub.accounts.users() == []
    finally:
        thief.close()


# -- account pages -------------------------------------------------------------------------------

XSS = "<script>alert(1)</script>"


def test_account_pages_need_a_login(browser: Browser) -> None:
    for path in ("/account", "/account/profile", "/account/password"):
        page = browser.get(path)
        assert page.status_code == 303 and page.headers["location"] == f"/login?next={path}"


def test_profile_edit_escapes_and_keeps_emails_unique(hub: Hub, browser: Browser) -> None:
    hub.accounts.create("carol", GOOD_PASSWORD, email="carol@example.org")
    _confirmed_user(browser)
    browser.log_in("alice", GOOD_PASSWORD)
    form = browser.get("/account/profile")
    assert 'value="alice@example.org"' in form.text

    profile = {
        "email": "CAROL@example.org",
        "firstname": XSS,
        "lastname": '"><img src=x>',
        "country": "Japan",
        "domain": "education",
    }
    taken = browser.submit("/account/profile", profile)
    assert taken.status_code == 400 and "Another account uses this e-mail" in taken.text
    assert hub.accounts.user("alice").email == "alice@example.org"

    saved = browser.submit("/account/profile", {**profile, "email": "alice@new.example.org"})
    assert saved.status_code == 303 and saved.headers["location"] == "/account?saved=profile"
    user = hub.accounts.user("alice")
    assert (user.email, user.firstname, user.country) == ("alice@new.example.org", XSS, "Japan")
    page = browser.get("/account?saved=profile")
    assert "Your profile is saved" in page.text
    assert XSS not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<img src=x>" not in page.text and "&#34;&gt;&lt;img src=x&gt;" in page.text
    assert XSS not in browser.get("/account/profile").text


def test_a_user_sees_only_their_own_profile(hub: Hub, browser: Browser) -> None:
    hub.accounts.create("bob", GOOD_PASSWORD, email="bob@example.org", firstname="Bobby")
    _confirmed_user(browser)
    browser.log_in("alice", GOOD_PASSWORD)
    mine = browser.get("/account")
    assert "Bobby" not in mine.text and "bob@example.org" not in mine.text
    for path in ("/account/bob", "/account?user=bob", "/admin/users/bob", "/admin/users"):
        page = browser.get(path)
        assert "Bobby" not in page.text and "bob@example.org" not in page.text, path
    assert browser.get("/admin/users/bob").status_code == 403


def test_password_change_needs_the_current_one_and_renews_the_session(
    hub: Hub, browser: Browser
) -> None:
    _confirmed_user(browser)
    browser.log_in("alice", GOOD_PASSWORD)
    new = "brand new secret"
    old_cookie = browser.client.cookies.get("eohub_session")
    elsewhere = Browser(hub)
    try:
        elsewhere.log_in("alice", GOOD_PASSWORD)
        wrong = browser.submit(
            "/account/password",
            {"current": "not it", "password": new, "repeat": new},
        )
        assert wrong.status_code == 400 and "current password is wrong" in wrong.text
        weak = browser.submit(
            "/account/password",
            {"current": GOOD_PASSWORD, "password": "alice", "repeat": "alice"},
        )
        assert weak.status_code == 400 and "at least 8" in weak.text
        done = browser.submit(
            "/account/password",
            {"current": GOOD_PASSWORD, "password": new, "repeat": new},
        )
        assert done.status_code == 303
        assert browser.client.cookies.get("eohub_session") not in (None, old_cookie)
        assert "Your password is changed" in browser.get(done.headers["location"]).text
        assert elsewhere.get("/account").status_code == 303  # the other session ended
        with pytest.raises(Unauthenticated):
            hub.accounts.authenticate("alice", GOOD_PASSWORD)
    finally:
        elsewhere.close()


# -- purging unconfirmed accounts ---------------------------------------------------------------


def test_purge_removes_only_old_unconfirmed_accounts(hub: Hub) -> None:
    clock = Clock(datetime(2030, 1, 1, tzinfo=UTC))
    hub.accounts = Accounts(hub.accounts.store, clock=clock)
    hub.accounts.create("old-pending", GOOD_PASSWORD, pending=True)
    hub.accounts.create("old-active", GOOD_PASSWORD)
    clock.now += timedelta(days=hub.settings.portal.unconfirmed_days, hours=1)
    hub.accounts.create("new-pending", GOOD_PASSWORD, pending=True)

    visitor = Browser(hub)  # a sign-up purges (at most once an hour)
    try:
        assert visitor.sign_up().status_code == 200
    finally:
        visitor.close()
    names = {u.username for u in hub.accounts.users()}
    assert names == {"old-active", "new-pending", "alice"}


def test_purge_command(tmp_path: Path) -> None:
    clock = Clock(datetime.now(UTC) - timedelta(days=30))
    with portal_hub(tmp_path) as hub:
        old = Accounts(hub.accounts.store, clock=clock)
        old.create("stale", GOOD_PASSWORD, pending=True)
        old.create("kept", GOOD_PASSWORD)
        hub.accounts.create("fresh", GOOD_PASSWORD, pending=True)
    env = {"EOHUB_DATA_DIR": str(tmp_path / "hub")}
    result = CliRunner().invoke(cli, ["user", "purge-unconfirmed"], env=env)
    assert result.exit_code == 0, result.output
    assert "removed unconfirmed user stale" in result.output and "1 unconfirmed" in result.output
    none_left = CliRunner().invoke(cli, ["user", "purge-unconfirmed", "--days", "40"], env=env)
    assert none_left.exit_code == 0 and "0 unconfirmed" in none_left.output
    with portal_hub(tmp_path) as hub:
        assert {u.username for u in hub.accounts.users()} == {"kept", "fresh"}


# -- mail delivery ------------------------------------------------------------------------------


class Collector:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.messages.append((list(envelope.rcpt_tos), parse(content)))
        self.arrived.set()
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, int]]:
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, port
    finally:
        controller.stop()


def test_sign_up_mail_through_a_real_smtp_server(
    tmp_path: Path, smtp: tuple[Collector, int]
) -> None:
    collector, port = smtp
    mail = {"smtp_host": "127.0.0.1", "smtp_port": port, "sender": "hub <hub@example.org>"}
    with portal_hub(tmp_path, mail=mail) as hub:
        visitor = Browser(hub)
        try:
            assert visitor.sign_up().status_code == 200
            assert collector.arrived.wait(10)
            [(recipients, message)] = collector.messages
            assert (
                recipients == ["alice@example.org"] and message["From"] == "hub <hub@example.org>"
            )
            link = link_in(message, "signup/confirm")
            assert visitor.get(path_of(link)).status_code == 200
            assert visitor.log_in("alice", GOOD_PASSWORD).status_code == 303
            assert not hub.settings.outbox_path.exists()
        finally:
            visitor.close()


def test_no_account_is_left_when_the_mail_cannot_be_sent(tmp_path: Path) -> None:
    mail = {"smtp_host": "127.0.0.1", "smtp_port": free_port(), "smtp_timeout_s": 5}
    with portal_hub(tmp_path, mail=mail) as hub:
        visitor = Browser(hub)
        try:
            started = time.monotonic()
            page = visitor.sign_up()
            assert page.status_code == 503 and "no account was created" in page.text
            assert time.monotonic() - started < 10
            assert hub.accounts.users() == []
        finally:
            visitor.close()


def test_allowed_hosts_refuse_a_forged_host_header(tmp_path: Path) -> None:
    hub = build_hub(
        Settings(data_dir=tmp_path, server={"allowed_hosts": ["hub.example.org"]})  # type: ignore[arg-type]
    )
    try:
        app = create_app(hub=hub)

        async def go() -> tuple[int, int]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport) as client:
                good = await client.get("http://hub.example.org/password/forgot")
                forged = await client.get("http://evil.example/password/forgot")
                return good.status_code, forged.status_code

        assert anyio.run(go) == (200, 400)
    finally:
        hub.close()
