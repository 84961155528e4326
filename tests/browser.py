"""Headless Chromium for the dashboard's tests: Debian's ``chromium`` driven by Playwright (which never downloads
a browser of its own here), pages that say when they are drawn, and screenshots kept as test artifacts.

The dashboard marks ``<body data-ready="#/route">`` once a route's data is on the page; :func:`open_route` waits
for it, so tests never sleep. Screenshots go to ``$FLOCKWATCH_TEST_ARTIFACTS`` (default ``test-artifacts/``
at the repository root), one PNG per named step.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from flockwatch.config import REPO_ROOT

# Without the background-networking flags Chromium keeps dialling Google on this closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("Debian's chromium is not installed: apt-get install chromium (make browser does)")
    return found


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("FLOCKWATCH_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts") / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` on a loopback port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def open_route(page: Page, base: str, route: str) -> None:
    """Go to ``#route`` and wait until the dashboard has drawn it."""
    page.evaluate("delete document.body.dataset.ready")
    page.goto(f"{base}/{route}")
    page.wait_for_selector(f'body[data-ready="{route}"]', timeout=15_000)


def sign_in(page: Page, base: str, token: str, wait_for_server: bool = False) -> None:
    """Sign in on the dashboard's form; ``wait_for_server``: retry the first load while the server starts."""
    deadline = time.monotonic() + (60 if wait_for_server else 0)
    while True:
        try:
            page.goto(f"{base}/")
            break
        except PlaywrightError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_selector('body[data-ready="#/alerts"]', timeout=15_000)


def screenshot(page: Page, name: str) -> Path:
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
