"""The portal on a phone-sized screen (375 x 740 CSS pixels, touch): no sideways scrolling,
the map first, then the criteria, then the results, and a search that works."""

from __future__ import annotations

from browser_support import (
    Portal,
    browsing,
    footprint_paths,
    log_in,
    result_ids,
    search_with_bbox,
)
from playwright.sync_api import Browser, Page, expect

from eohub.protocols import plain

PHONE = {
    "viewport": {"width": 375, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
AREA = (-12.0, 35.0, 32.0, 56.0)


def page_width(page: Page) -> int:
    """The width of the page's content in CSS pixels (wider than the screen: it scrolls)."""
    width: int = page.evaluate("() => document.scrollingElement.scrollWidth")
    return width


def span(page: Page, selector: str) -> tuple[float, float, float]:
    """Left, right and top of an element's box on the page."""
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found["x"], found["x"] + found["width"], found["y"]


def test_search_page_fits_a_phone_and_searches(browser: Browser, portal: Portal) -> None:
    with browsing(browser, portal, **PHONE) as (page, console):
        page.goto("/")
        expect(page.locator("#map.leaflet-container")).to_be_visible()
        expect(page.locator("#search-form")).to_be_visible()
        expect(page.locator("#results-panel")).to_be_visible()
        assert page_width(page) <= 375 + 1
        boxes = [span(page, s) for s in ("#map", "#search-form", "#results-panel")]
        for left, right, _ in boxes:
            assert 0 <= left and right <= 375 + 1, boxes
        assert boxes[0][2] < boxes[1][2] < boxes[2][2], "not map, criteria, results"

        page.get_by_label("Mission").select_option("SENTINEL-2")
        search_with_bbox(page, AREA)
        bbox = ",".join(str(v) for v in AREA)
        query = plain.parse({"collection": "SENTINEL-2", "bbox": bbox, "sort": "-sensing_start"})
        expected = [str(p.id) for p in portal.hub.catalogue.search(query).items]
        assert expected and result_ids(page) == expected
        assert footprint_paths(page) == len(expected)
        expect(page.locator("#criteria")).not_to_have_attribute("open", "")
        expect(page.locator("#results .result").first).to_be_visible()
        assert page_width(page) <= 375 + 1

        page.locator("#results .result-link").first.click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert page_width(page) <= 375 + 1
        assert console.errors == [], console.errors


def test_other_pages_fit_a_phone(browser: Browser, portal: Portal) -> None:
    user = portal.user("pat")
    with browsing(browser, portal, **PHONE) as (page, console):
        for path in ("/signup", "/login"):
            page.goto(path)
            assert page_width(page) <= 375 + 1, path
        log_in(page, user)
        page.goto("/")
        search_with_bbox(page, AREA)
        first = page.locator("#results .result").first
        first.get_by_role("button", name="Add to cart").click()
        expect(first.locator(".result-feedback")).to_contain_text("Added to the cart")
        page.get_by_label("Save this search as").fill("Europe, everything")
        page.get_by_role("button", name="Save search").click()
        expect(page.locator("#save-status")).to_contain_text("Saved as")
        for path in ("/cart", "/searches", "/account", "/account/profile"):
            page.goto(path)
            assert page_width(page) <= 375 + 1, path
        assert console.errors == [], console.errors
