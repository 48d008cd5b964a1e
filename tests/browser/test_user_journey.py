"""The portal's whole user journey in a real headless Chromium against a served hub.

Someone who has never written a query signs up, confirms the mailed link, logs in, draws an
area on the map, picks a mission and a cloud cover, searches, opens a product, sees its
quicklook, fills the cart, downloads the product, saves the search with mail on, is mailed
about a new product, and logs out. Every step goes through the pages a person uses; the
expected results come from the catalogue itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from browser_support import (
    PASSWORD,
    Inbox,
    Portal,
    browsing,
    footprint_paths,
    link_in,
    mail_text,
    map_point,
    result_ids,
    run_search,
)
from playwright.sync_api import Browser, Page, expect
from shapely.geometry import box

from eohub.demo.factory import build_product
from eohub.demo.records import generate_products
from eohub.model import Product
from eohub.model.geometry import Footprint
from eohub.protocols import plain

EUROPE = (-12.0, 56.0, 32.0, 35.0)
"""The corners drawn on the map: west, north, east, south."""
MISSION = "SENTINEL-2"
MOST_CLOUD = 30
USER = "erin"
EMAIL = "erin@example.org"


def expected_results(portal: Portal, bbox: str) -> list[Product]:
    """What the catalogue holds for the journey's search (newest first, as the page sorts)."""
    params = {"collection": MISSION, "cloud_cover": f"..{MOST_CLOUD}", "bbox": bbox}
    query = plain.parse({**params, "sort": "-sensing_start", "limit": "100"})
    return list(portal.hub.catalogue.search(query).items)


def sign_up(page: Page, inbox: Inbox) -> None:
    """Fill the sign-up form, then open the mailed confirmation link."""
    page.goto("/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill(USER)
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_label("First name").fill("Erin")
    page.get_by_label("Last name").fill("Brockovich")
    page.get_by_label("Country").select_option("France")
    page.get_by_label("Usage domain").select_option(label="Research")
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your mail")

    confirm = link_in(inbox.wait_for(EMAIL, "Confirm your eohub account"), "/signup/confirm/")
    page.goto(confirm)
    expect(page.get_by_role("heading", level=1)).to_have_text("Account confirmed")


def log_in_from_confirmation(page: Page) -> None:
    """Follow the confirmation page's link to the login form and log in."""
    page.locator("main").get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name=USER)
    ).to_be_visible()


def draw_rectangle(page: Page) -> str:
    """Draw :data:`EUROPE` with the rectangle tool; the box the page took (``W,S,E,N``)."""
    expect(page.locator("#map.leaflet-container")).to_be_visible()
    page.locator("#map").scroll_into_view_if_needed()
    page.get_by_role("button", name="Draw a rectangle").click()
    west, north, east, south = EUROPE
    corners = [map_point(page, west, north), map_point(page, east, south)]
    for x, y in corners:
        page.mouse.move(x, y, steps=4)
        page.mouse.down()
        page.mouse.up()
    expect(page.locator("#aoi-status")).to_contain_text("Drawn rectangle")
    drawn = [
        page.locator(f"#aoi-{side}").input_value() for side in ("west", "south", "east", "north")
    ]
    for value, wanted in zip(drawn, (west, south, east, north), strict=True):
        assert abs(float(value) - wanted) < 1.0, f"drawn {drawn}, aimed at {EUROPE}"
    return ",".join(drawn)


def search(page: Page, portal: Portal, bbox: str) -> list[Product]:
    """Set the criteria, search, and check the list and the map against the catalogue."""
    page.get_by_label("Mission").select_option(MISSION)
    page.get_by_label("At most").fill(str(MOST_CLOUD))
    run_search(page)
    expected = expected_results(portal, bbox)
    # The data make the criteria matter: the area holds products of this mission that are
    # too cloudy, and clear products of this mission lie outside the area.
    in_area = plain.parse({"collection": MISSION, "bbox": bbox, "limit": "100"})
    assert len(portal.hub.catalogue.search(in_area).items) > len(expected) >= 2

    expect(page.locator("#results-status")).to_have_text(f"{len(expected)} products found.")
    assert result_ids(page) == [str(p.id) for p in expected]
    assert footprint_paths(page) == len(expected)
    names = page.locator("#results .result-link").all_inner_texts()
    assert names == [p.name for p in expected]
    query = parse_qs(urlsplit(page.url).query)
    assert query["collection"] == [MISSION] and query["bbox"] == [bbox]
    return expected


def check_product_page(page: Page, product: Product) -> None:
    """Open the product from the results; its page shows the quicklook."""
    page.locator(f'#results .result[data-id="{product.id}"] .result-link').click()
    expect(page.get_by_role("heading", level=1)).to_have_text(product.name)
    md5 = product.checksum("MD5")
    assert md5
    expect(page.locator("#checksum-md5")).to_have_text(md5)
    quicklook = page.locator("#quicklook")
    quicklook.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const img = document.getElementById('quicklook');"
        " return img.complete && img.naturalWidth > 0; }"
    )


def add_to_cart(page: Page, product: Product) -> None:
    """Back to the results (the search runs again from the URL) and add the product."""
    page.locator("#product-back").click()
    result = page.locator(f'#results .result[data-id="{product.id}"]')
    result.get_by_role("button", name="Add to cart").click()
    expect(result.locator(".result-feedback")).to_have_text("Added to the cart (1 in it).")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cart").click()
    rows = page.locator("#cart-items tbody tr")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-product-id") == str(product.id)
    expect(rows.first.get_by_role("link")).to_have_text(product.name)


def download(page: Page, product: Product, folder: Path) -> None:
    """From the cart to the product page, download it, and check the bytes' MD5."""
    page.locator("#cart-items").get_by_role("link", name=product.name).click()
    with page.expect_download() as info:
        page.locator("#download").click()
    target = folder / info.value.suggested_filename
    info.value.save_as(target)
    data = target.read_bytes()
    assert len(data) == product.size
    assert hashlib.md5(data).hexdigest() == product.checksum("MD5")


def save_search(page: Page, search_url: str) -> None:
    """Save the search from the search page, then turn its mails on under Saved searches."""
    page.goto(search_url)
    expect(page.locator("#save-search")).to_be_visible()
    page.get_by_label("Save this search as").fill("Clear Europe")
    page.get_by_role("button", name="Save search").click()
    expect(page.locator("#save-status")).to_contain_text("Saved as")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Saved searches").click()
    saved = page.locator(".saved-search")
    expect(saved).to_have_count(1)
    expect(saved.get_by_role("heading")).to_have_text("Clear Europe")
    expect(saved.locator(".notify-state")).to_contain_text("off")
    saved.get_by_role("button", name="Turn on").click()
    expect(page.locator(".saved-search .notify-state")).to_contain_text("on")


def ingest_new_match(portal: Portal, folder: Path) -> Product:
    """A new clear Sentinel-2 product over Europe, ingested into the served hub."""
    record = next(r for r in generate_products(50, seed=101) if r.collection == MISSION)
    record = record.evolve(footprint=Footprint.from_geometry(box(10, 45, 11, 46)), cloud_cover=4.5)
    summary = portal.hub.ingestor().ingest_all([build_product(record, folder, seed=101)])
    assert summary.ingested == 1, summary
    return portal.hub.catalogue.get(record.id)


def test_user_journey(
    browser: Browser, portal: Portal, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox = smtp[0]
    with browsing(browser, portal) as (page, console):
        sign_up(page, inbox)
        log_in_from_confirmation(page)

        bbox = draw_rectangle(page)
        found = search(page, portal, bbox)
        search_url = page.url
        chosen = found[0]
        check_product_page(page, chosen)
        add_to_cart(page, chosen)
        download(page, chosen, tmp_path)

        save_search(page, search_url)
        new = ingest_new_match(portal, tmp_path / "new")
        notice = mail_text(inbox.wait_for(EMAIL, "new product"))
        assert new.name in notice
        assert f"{portal.url}/products/{new.id}" in notice
        assert all(p.name not in notice for p in found)

        page.get_by_role("button", name="Log out").click()
        main_nav = page.get_by_role("navigation", name="Main")
        expect(main_nav.get_by_role("link", name="Log in")).to_be_visible()
        page.goto("/account")
        assert urlsplit(page.url).path == "/login"
        assert parse_qs(urlsplit(page.url).query)["next"] == ["/account"]
        assert console.errors == [], console.errors
