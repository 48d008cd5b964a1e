"""The portal's defences and accessibility, checked where they matter: in a real browser.

Markup in product metadata, saved-search names and profile names is shown as text and never
runs; the Content-Security-Policy blocks inline script and our own pages break none of its
rules; a wrong password is explained; the search page works from the keyboard and every
control has a label.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from browser_support import (
    XSS_MARKUP,
    Console,
    Portal,
    browsing,
    log_in,
    result_ids,
    search_with_bbox,
)
from playwright.sync_api import Browser, FilePayload, Page, expect
from shapely.geometry import box

from eohub.demo.records import generate_products
from eohub.model import Product
from eohub.model.geometry import Footprint

HOSTILE_BOX = (-140.0, -50.0, -139.0, -49.0)
"""Where the hostile products lie (open Pacific: no demo product there)."""
HOSTILE_NAME = "".join(XSS_MARKUP)
SEARCH_CONTROLS = [
    "aoi-west", "aoi-south", "aoi-east", "aoi-north", "aoi-bbox-apply", "aoi-file",
    "f-collection", "f-platform", "f-product-type", "f-sensing-from", "f-sensing-to",
    "f-ingestion-from", "f-ingestion-to", "f-cloud-min", "f-cloud-max", "f-orbit",
    "f-relative-orbit", "f-orbit-direction", "f-polarisation", "f-sensor-mode", "f-tile",
    "f-text", "search-button",
]  # fmt: skip
"""The search page's area and criteria controls, in the order Tab must reach them."""


@pytest.fixture(scope="module")
def hostile(portal: Portal) -> list[Product]:
    """Two catalogued products whose name and metadata carry markup, side by side in
    :data:`HOSTILE_BOX`, newest first."""
    records = [r for r in generate_products(20, seed=404) if r.collection == "SENTINEL-2"][:2]
    west, south, _, north = HOSTILE_BOX
    made = [
        record.evolve(
            id=uuid.uuid4(),
            name=f"S2A_MSIL1C_{index}_{XSS_MARKUP[index]}",
            footprint=Footprint.from_geometry(
                box(west + index / 2, south, west + 0.4 + index / 2, north)
            ),
            attributes={**record.attributes, "note": HOSTILE_NAME, XSS_MARKUP[1]: "value"},
        )
        for index, record in enumerate(records)
    ]
    portal.hub.catalogue.upsert(made)
    return sorted(made, key=lambda p: p.sensing.start, reverse=True)


def assert_nothing_ran(page: Page) -> None:
    """No markup of the data became an element or ran."""
    assert page.evaluate("() => window.__xss") is None
    assert page.locator('img[src="x"]').count() == 0


def test_markup_in_product_metadata_never_runs(
    browser: Browser, portal: Portal, hostile: list[Product]
) -> None:
    user = portal.user("mallory")
    with browsing(browser, portal) as (page, console):
        log_in(page, user)
        search_with_bbox(page, HOSTILE_BOX)
        assert result_ids(page) == [str(p.id) for p in hostile]
        links = page.locator("#results .result-link")
        assert links.all_inner_texts() == [p.name for p in hostile]
        footprints = page.locator("#map .leaflet-overlay-pane path.leaflet-interactive")
        expect(footprints).to_have_count(2)
        footprints.first.hover()
        expect(page.locator(".leaflet-tooltip")).to_have_text(hostile[0].name)
        first = page.locator("#results .result").first
        first.get_by_role("button", name="Add to cart").click()
        expect(first.locator(".result-feedback")).to_contain_text("Added to the cart")
        assert_nothing_ran(page)

        links.first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text(hostile[0].name)
        assert page.title() == f"{hostile[0].name} · eohub"
        note = page.get_by_role("row", name="note")
        expect(note.get_by_role("cell")).to_have_text(HOSTILE_NAME)
        expect(page.get_by_role("rowheader", name=XSS_MARKUP[1])).to_be_visible()
        expect(page.locator("#product-next")).to_contain_text(hostile[1].name)
        assert_nothing_ran(page)

        page.goto("/cart")
        expect(page.locator("#cart-items").get_by_role("link")).to_have_text(hostile[0].name)
        assert_nothing_ran(page)
        assert console.errors == [], console.errors


def test_markup_in_saved_search_and_profile_names_never_runs(
    browser: Browser, portal: Portal
) -> None:
    user = portal.user("trudy")
    with browsing(browser, portal) as (page, console):
        log_in(page, user)
        search_with_bbox(page, (0, 0, 10, 10))
        page.get_by_label("Save this search as").fill(HOSTILE_NAME)
        page.get_by_role("button", name="Save search").click()
        expect(page.locator("#save-status")).to_contain_text("Saved as")
        assert_nothing_ran(page)

        page.goto("/searches")
        saved = page.locator(".saved-search")
        expect(saved.get_by_role("heading")).to_have_text(HOSTILE_NAME)
        expect(saved.get_by_label("New name")).to_have_value(HOSTILE_NAME)
        assert_nothing_ran(page)

        page.goto("/account/profile")
        page.get_by_label("First name").fill(XSS_MARKUP[0])
        page.get_by_label("Last name").fill(XSS_MARKUP[1])
        page.get_by_label("Country").select_option("Italy")
        page.get_by_label("Usage domain").select_option(label="Education")
        page.get_by_role("button", name="Save").click()
        page.goto("/account")
        expect(page.locator("#profile-firstname")).to_have_text(XSS_MARKUP[0])
        expect(page.locator("#profile-lastname")).to_have_text(XSS_MARKUP[1])
        assert_nothing_ran(page)
        assert console.errors == [], console.errors


PAGES = ["/", "/login", "/signup", "/signup/resend", "/password/forgot"]
USER_PAGES = ["/cart", "/searches", "/account", "/account/profile", "/account/password"]


def visit(page: Page, path: str) -> None:
    """Open ``path``, check its policy, and wait until its scripts have run."""
    response = page.goto(path)
    assert response is not None and response.status == 200, path
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy, path
    page.wait_for_load_state("load")


def test_csp_blocks_inline_script_and_our_pages_keep_to_it(
    browser: Browser, portal: Portal, hostile: list[Product]
) -> None:
    user = portal.user("victor")
    with browsing(browser, portal) as (page, console):
        for path in PAGES:
            visit(page, path)
        page.goto("/")
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.__inline = 1'; document.body.append(s); }"
        )
        assert page.evaluate("() => window.__inline") is None
        assert len(console.csp_errors()) == 1 and "script-src" in console.csp_errors()[0]
        console.errors.clear()

        log_in(page, user)
        for path in USER_PAGES:
            visit(page, path)
        visit(page, "/")
        search_with_bbox(page, HOSTILE_BOX)
        visit(page, f"/products/{hostile[0].id}")
        visit(page, f"/products/{portal.products[0].id}")
        page.locator("#quicklook-open").click()
        expect(page.locator("#quicklook-dialog")).to_be_visible()
        assert console.errors == [], console.errors

        # The known exception: the XML parser's error page for a broken KML file carries an
        # inline style, which the policy refuses; the page still explains the file's fault.
        page.goto("/")
        broken: FilePayload = {
            "name": "area.kml",
            "mimeType": "application/xml",
            "buffer": b"<kml><",
        }
        page.locator("#aoi-file").set_input_files(files=[broken])
        expect(page.locator("#aoi-error")).to_have_text(
            "area.kml: The file is not valid XML, so not KML."
        )
        known = [e for e in console.csp_errors() if "style-src" in e and "/js/geo.js" in e]
        assert console.errors == known, console.errors


def test_wrong_password_is_explained(browser: Browser, portal: Portal) -> None:
    user = portal.user("walter")
    with browsing(browser, portal) as (page, _console):
        page.goto("/login")
        page.get_by_label("Username").fill(user)
        page.get_by_label("Password").fill("not the password")
        with page.expect_response(lambda r: r.url.endswith("/login")) as answer:
            page.get_by_role("button", name="Log in").click()
        assert answer.value.status == 401
        expect(page.get_by_role("alert")).to_have_text("Invalid user name or password")
        expect(page.get_by_label("Username")).to_have_value(user)
        expect(page.get_by_label("Password")).to_have_value("")
        expect(page.get_by_role("link", name=user)).to_have_count(0)


def focus_path(page: Page, presses: int) -> list[str]:
    """The elements Tab focuses, one per press (``id``, else the tag), repeats dropped (a
    date input has a stop per part)."""
    seen: list[str] = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        name = page.evaluate(
            "() => document.activeElement.id || document.activeElement.tagName.toLowerCase()"
        )
        if not seen or seen[-1] != name:
            seen.append(name)
        if name == SEARCH_CONTROLS[-1]:
            break
    return seen


def test_keyboard_reaches_skip_link_then_search_form_in_order(
    browser: Browser, portal: Portal
) -> None:
    with browsing(browser, portal) as (page, console):
        page.goto("/")
        expect(page.locator("#map.leaflet-container")).to_be_visible()
        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to content")
        expect(skip).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#main")).to_be_focused()

        path = focus_path(page, 120)
        assert path[-1] == SEARCH_CONTROLS[-1], f"Search not reached by Tab: {path}"
        assert [name for name in path if name in SEARCH_CONTROLS] == SEARCH_CONTROLS
        assert console.errors == [], console.errors


LABELS = {
    "West": "aoi-west", "South": "aoi-south", "East": "aoi-east", "North": "aoi-north",
    "Upload an area (GeoJSON or KML file)": "aoi-file", "Mission": "f-collection",
    "Platform": "f-platform", "Product type": "f-product-type", "At least": "f-cloud-min",
    "At most": "f-cloud-max", "Absolute orbit": "f-orbit", "Relative orbit": "f-relative-orbit",
    "Orbit direction": "f-orbit-direction", "Polarisation (Sentinel-1)": "f-polarisation",
    "Sensor mode": "f-sensor-mode", "Tile (Sentinel-2 MGRS)": "f-tile", "Free text": "f-text",
    "Sort by": "sort", "Per page": "per-page",
}  # fmt: skip
DATE_LABELS = {
    ("Sensing date (UTC)", "From"): "f-sensing-from",
    ("Sensing date (UTC)", "To"): "f-sensing-to",
    ("Ingestion date (UTC)", "From"): "f-ingestion-from",
    ("Ingestion date (UTC)", "To"): "f-ingestion-to",
}


def unlabelled(page: Page) -> list[str]:
    """The visible form controls of the page without an accessible label."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((el) => el.type !== 'hidden' && el.getClientRects().length)
            .filter((el) => !(el.labels && el.labels.length)
                && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
            .map((el) => el.id || el.name || el.outerHTML)"""
    )
    return found


@pytest.fixture
def search_page(browser: Browser, portal: Portal) -> Iterator[tuple[Page, Console]]:
    """The search page, as a logged-in user sees it (with the save form)."""
    user = portal.user(f"reader{uuid.uuid4().hex[:8]}")
    with browsing(browser, portal) as (page, console):
        log_in(page, user)
        page.goto("/")
        yield page, console


def test_every_search_control_has_a_label(search_page: tuple[Page, Console]) -> None:
    page, console = search_page
    for label, control in LABELS.items():
        expect(page.get_by_label(label, exact=True)).to_have_id(control)
    for (group, label), control in DATE_LABELS.items():
        fieldset = page.get_by_role("group", name=group)
        expect(fieldset.get_by_label(label, exact=True)).to_have_id(control)
    search_with_bbox(page, (0, 0, 10, 10))
    expect(page.get_by_label("Save this search as")).to_have_id("save-name")
    assert unlabelled(page) == []
    for path in ("/signup", "/login", "/cart", "/searches", "/account/profile"):
        page.goto(path)
        assert unlabelled(page) == [], path
    assert console.errors == [], console.errors
