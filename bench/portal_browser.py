"""The search page in a real browser: time to interactive, and searches of 1,000 results.

Debian's Chromium (``/usr/bin/chromium``, or ``EOHUB_CHROMIUM``) driven by Playwright; no
browser is downloaded. Times are read from the page itself: the navigation timing, the marks
``search.js`` sets (``search-ready`` once the page answers input, ``results-rendered`` once a
search's results are all drawn), the resource timing of ``/api/search``, and every long task
(main-thread work over 50 ms) seen by a ``PerformanceObserver`` installed before any script of
the page runs. The renderer's main-thread busy time comes from the DevTools ``Performance``
metrics (``TaskDuration``), the browser's CPU-time figure.

Used by ``portal.py``; run alone against a running hub:

    python bench/portal_browser.py http://127.0.0.1:8000 --cookie eohub_session=...
"""

from __future__ import annotations

import argparse
import os
import statistics
from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = os.environ.get("EOHUB_CHROMIUM", "/usr/bin/chromium")
FREEZE_MS = 200.0  # a main-thread task longer than this is a visible freeze
LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
}).observe({ type: 'longtask', buffered: true });
"""
BIG_SEARCHES = {
    "Sentinel-2, Europe, 3 months": {
        "collection": "SENTINEL-2", "start": "2024-04-01T00:00:00Z",
        "end": "2024-06-30T23:59:59.999Z", "bbox": "-10,36,30,60", "sort": "-sensing_start",
    },
    "every mission, Europe, 1 month": {
        "start": "2024-05-01T00:00:00Z", "end": "2024-05-31T23:59:59.999Z",
        "bbox": "-10,36,30,60", "sort": "-sensing_start",
    },
    "Sentinel-5P strips, world, 1 month": {  # ~28,000 vertices a page: simplified
        "collection": "SENTINEL-5P", "start": "2024-05-01T00:00:00Z",
        "end": "2024-05-31T23:59:59.999Z", "sort": "-sensing_start",
    },
}  # fmt: skip
READY = "() => document.body && document.body.dataset.ready === 'true'"
RENDERED = "() => performance.getEntriesByName('results-rendered').length > 0"
OUTLINES = """() => document.querySelector(
  '.leaflet-outlines-pane path, .leaflet-outlines-pane canvas') && performance.now()"""


def _page(context: BrowserContext) -> tuple[Page, Any]:
    page = context.new_page()
    page.add_init_script(LONG_TASKS)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    return page, cdp


def _busy_ms(cdp: Any) -> dict[str, float]:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    names = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
    return {name: metrics.get(name, 0.0) * 1000 for name in names}


def _longest(tasks: list[list[float]], after: float = 0.0) -> float:
    return max((d for start, d in tasks if start + d >= after), default=0.0)


def interactive(context: BrowserContext, base: str) -> dict[str, float]:
    """One visit of ``/``: navigation milestones, the page's ready mark, the outlines."""
    page, _ = _page(context)
    page.goto(base + "/", wait_until="commit")
    page.wait_for_function(READY, timeout=30_000)
    outlines = page.wait_for_function(OUTLINES, timeout=30_000)
    figures: dict[str, float] = page.evaluate(
        """() => {
          const nav = performance.getEntriesByType('navigation')[0];
          const ready = performance.getEntriesByName('search-ready')[0].startTime;
          const tasks = window.__longTasks.filter(([s]) => s <= ready);
          return {html: nav.responseEnd, dom: nav.domContentLoadedEventEnd,
                  load: nav.loadEventEnd, ready,
                  longest: Math.max(0, ...tasks.map(([, d]) => d))};
        }"""
    )
    figures["outlines"] = float(outlines.json_value())
    page.close()
    return figures


def big_search(
    context: BrowserContext, base: str, params: dict[str, str], limit: int
) -> dict[str, float]:
    """A search page opened with ``limit`` results: fetch, render, freezes, then a map zoom."""
    page, cdp = _page(context)
    before = _busy_ms(cdp)
    page.goto(f"{base}/?{urlencode({**params, 'limit': str(limit)})}", wait_until="commit")
    page.wait_for_function(RENDERED, timeout=120_000)
    after = _busy_ms(cdp)
    figures: dict[str, float] = page.evaluate(
        """() => {
          const api = performance.getEntriesByType('resource')
            .find((e) => e.name.includes('/api/search'));
          const rendered = performance.getEntriesByName('results-rendered')[0].startTime;
          const status = document.getElementById('results-status').textContent;
          const total = Number((status.match(/^([\\d,]+)/) || ['', '0'])[1].replace(/,/g, ''));
          const during = window.__longTasks.filter(([s, d]) => s + d >= api.responseStart);
          return {
            requested: api.startTime, received: api.responseEnd, rendered,
            bytes: api.encodedBodySize, total,
            shown: document.querySelectorAll('#results .result').length,
            paths: document.querySelectorAll('.leaflet-overlay-pane path').length,
            longest: Math.max(0, ...during.map(([, d]) => d)),
            longTasks: during.length,
          };
        }"""
    )
    figures["busy"] = after["TaskDuration"] - before["TaskDuration"]
    figures["script"] = after["ScriptDuration"] - before["ScriptDuration"]
    figures["layout"] = (after["LayoutDuration"] + after["RecalcStyleDuration"]
                         - before["LayoutDuration"] - before["RecalcStyleDuration"])  # fmt: skip
    zoom = page.locator(".leaflet-control-zoom-in")
    if zoom.count():
        clicked = float(page.evaluate("performance.now()"))
        zoom.click()
        page.wait_for_timeout(1500)
        tasks = page.evaluate("window.__longTasks")
        figures["zoom_longest"] = _longest(tasks, clicked)
    page.close()
    return figures


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _line(label: str, runs: list[dict[str, float]], keys: list[tuple[str, str]]) -> None:
    parts = [f"{name} {_median(runs, key):.0f} (max {max(r[key] for r in runs):.0f})"
             for name, key in keys if all(key in r for r in runs)]  # fmt: skip
    print(f"  {label}: " + ", ".join(parts))


def browser_figures(base: str, cookies: dict[str, str], runs: int) -> None:
    """Print the browser figures (median and max of ``runs`` visits each), logged in."""
    with sync_playwright() as pw:
        browser: Browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            _run(browser, base, cookies, runs)
        finally:
            browser.close()


def _run(browser: Browser, base: str, cookies: dict[str, str], runs: int) -> None:
    jar = [{"name": k, "value": v, "url": base} for k, v in cookies.items()]
    print(f"browser: Chromium {browser.version}, headless, {runs} runs; ms, median (max)")
    cold, warm = [], []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies(jar)  # type: ignore[arg-type]
        cold.append(interactive(context, base))  # empty HTTP cache
        warm.append(interactive(context, base))  # scripts and outlines cached
        context.close()
    keys = [("HTML", "html"), ("DOMContentLoaded", "dom"), ("load", "load"), ("ready", "ready"),
            ("outlines drawn", "outlines"), ("longest task", "longest")]  # fmt: skip
    _line("search page, first visit", cold, keys)
    _line("search page, next visit", warm, keys)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies(jar)  # type: ignore[arg-type]
    interactive(context, base)  # cache the scripts
    for label, params in BIG_SEARCHES.items():
        for limit in (1000, 100):
            found = [big_search(context, base, params, limit) for _ in range(runs)]
            for r in found:
                r["render"] = r["rendered"] - r["received"]
                r["fetch"] = r["received"] - r["requested"]
            total, shown = int(found[0]["total"]), int(found[0]["shown"])
            freezes = sum(1 for r in found if r["longest"] > FREEZE_MS)
            _line(f"{label}: {shown} of {total:,} shown, {found[0]['bytes'] / 1e3:.0f} kB, "
                  f"{int(found[0]['paths'])} SVG paths", found,
                  [("fetch", "fetch"), ("render", "render"), ("rendered at", "rendered"),
                   ("longest task", "longest"), ("main thread busy", "busy"),
                   ("script", "script"), ("style+layout", "layout"),
                   ("longest task on zoom", "zoom_longest")])  # fmt: skip
            if freezes:
                print(f"    OVER: a task over {FREEZE_MS:.0f} ms in {freezes} of {runs} runs")
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the hub, e.g. http://127.0.0.1:8000")
    parser.add_argument("--cookie", action="append", default=[], help="name=value")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cookies = dict(c.split("=", 1) for c in args.cookie)
    browser_figures(args.base.rstrip("/"), cookies, args.runs)


if __name__ == "__main__":
    main()
