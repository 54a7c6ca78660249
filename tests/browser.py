"""Playwright with Debian's Chromium: shared launch settings for browser tests."""

import os
from contextlib import contextmanager

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, viewport=(1366, 900), locale="zh-CN"):
    """A fresh context (own cookies) and page."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale=locale)
    return context.new_page()


@contextmanager
def browser_page(viewport=(1366, 900), locale="zh-CN"):
    with chromium() as browser:
        yield new_page(browser, viewport, locale)


def login(page, live_server, username, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state()


def screenshot_dir():
    """Where browser tests leave their screenshots: `SCREENSHOT_DIR`, else var/screenshots (CI keeps it)."""
    from pathlib import Path

    folder = Path(os.environ.get("SCREENSHOT_DIR") or Path(__file__).resolve().parent.parent / "var" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page, name: str):
    """Full-page screenshot `<name>.png` in `screenshot_dir()`; returns its path."""
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def thread_after_commit(threads: list, work) -> None:
    """Stand in for a Celery worker: run `work()` on a thread once the current transaction commits (the request
    that queued it has answered by then), so a page can watch the work progress."""
    import threading

    from django.db import connection, transaction

    def run():
        try:
            work()
        finally:
            connection.close()

    def start():
        thread = threading.Thread(target=run, daemon=True)
        threads.append(thread)
        thread.start()

    transaction.on_commit(start)
