"""Browser fixtures: Debian's Chromium driven by Playwright (no browser
download), screenshots of every page into build/screenshots/, and axe-core
(from the npm registry, `make browser-deps`) for the accessibility check."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
AXE = ROOT / "build" / "node" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("EJOURNAL_CHROMIUM", "/usr/bin/chromium")
# A desktop and the narrowest phone the pages must serve without sideways scrolling.
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
# Chromium on a machine without a network: no background traffic, no first-run dialogs.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make browser-deps` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=sorted(WIDTHS))
def width(request):
    """Each browser test runs at desktop and at phone width."""
    return request.param


@pytest.fixture
def page(browser, width):
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h}, locale="ru-RU",
                                  timezone_id="Europe/Moscow")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.width_name = width
    yield page
    context.close()


def shot(page, name: str) -> Path:
    """A full-page screenshot ``build/screenshots/<name>-<width>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}-{page.width_name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """axe-core's violations of the page as it is now, of the given impacts.
    The script is evaluated through the DevTools protocol, which the page's
    Content-Security-Policy does not govern."""
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: run `make browser-deps`")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                           ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
                           " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
    return [v for v in result if v["impact"] in impacts]


def sideways_overflow(page) -> int:
    """How many pixels the page itself scrolls sideways (0: none); a wide
    table may scroll inside its own box."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def check(page, name: str) -> None:
    """Screenshot the page, then: no sideways scroll, no serious or critical axe violation."""
    shot(page, name)
    assert sideways_overflow(page) <= 0, f"{name}: the page scrolls sideways at {page.width_name}"
    assert axe_violations(page) == [], f"{name} at {page.width_name}"


def through_progress(page, button: str, name: str) -> None:
    """Send a form that starts long work (its button ``button``) and land on
    its job's page. While the job runs the page shows its progress bar
    (screenshot ``name`` and the checks; the page's status requests are held
    meanwhile so that it stays put); then the page's script loads the
    outcome."""
    before = page.url
    status = "**/jobs/*/status"
    page.route(status, lambda route: route.abort())  # the script tries again 5 s later
    try:
        page.get_by_role("button", name=button).click()
        page.wait_for_url(lambda url: "/jobs/" in url and url != before)
        if page.locator("#progress-bar").count():
            bar = page.get_by_role("progressbar")
            assert bar.count() == 1 and bar.get_attribute("aria-valuenow") is not None
            assert page.get_by_role("link", name="Обновить").count() == 1  # without script
            check(page, name)
    finally:
        page.unroute(status)


def sign_in(page, platform, login: str, password: str) -> None:
    """The portal's login form, filled and sent as a user would."""
    page.goto(platform.url + "/login")
    page.get_by_label("Логин").fill(login)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти").click()


def open_menu(page, name: str) -> None:
    """Follow a menu link as a user would (on a phone the menu opens first)."""
    toggle = page.locator(".menu-toggle")
    if toggle.is_visible():
        toggle.click()
    page.locator("#menu").get_by_role("link", name=name, exact=True).click()
