"""The web dashboard: one static page (``static/``: HTML, CSS, plain JavaScript, no build step) served at ``/``.

The page holds no data: it signs in with an API token and reads everything from ``/api/v1/`` like any other
client, so the authorization, pseudonyms and audit trail of the API apply to it unchanged. Its Content Security
Policy allows only its own script and styles (post text is attacker-controlled; the script writes it as text).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page is tiny; always asking again means a new release is seen at once.
    "Cache-Control": "no-cache",
}


def install_dashboard(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files under ``/static/`` (public: they describe no data)."""

    @app.get("/", include_in_schema=False)
    def dashboard_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
