"""Headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright for Python, for the web
console's browser tests and bench: never a downloaded browser. Screenshots go to ``artefacts/console/``
at the repository's root (ignored by git)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTEFACTS = Path(__file__).resolve().parents[2] / "artefacts" / "console"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def console_page(url: str, width: int = 1400, height: int = 900) -> AsyncIterator[Page]:
    """A page on the console at ``url``; page errors fail the test when it ends."""
    errors: list[str] = []
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": width, "height": height})
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(url)
        yield page
    assert not errors, errors


async def screenshot(page: Page, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path
