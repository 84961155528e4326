"""POST saved objects to Kibana's or OpenSearch Dashboards' import API (standard library HTTP only).

The request is what ``curl -X POST URL/api/saved_objects/_import?overwrite=true -H 'kbn-xsrf: true'
--form file=@objects.ndjson`` sends (``osd-xsrf`` for OpenSearch Dashboards). Every failure (unreachable, an
HTTP error, a reply that is not the API's JSON, ``success: false``) is a :class:`DashboardsImportError` whose
message names the app and its URL.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from flockwatch.dashboards import Target, import_path, multipart, summary

MAX_REPLY_BYTES = 4 * 1024 * 1024


class DashboardsImportError(Exception):
    """The import did not happen, or not for every object; the message is one line."""

    def __init__(self, message: str, result: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = dict(result) if result is not None else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a POST is not replayed elsewhere: the 3xx surfaces as an HTTPError naming its Location


def import_objects(
    url: str,
    target: Target,
    ndjson: bytes,
    *,
    space: str | None = None,
    overwrite: bool = True,
    headers: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """Import ``ndjson`` into the app at ``url``; its summary (``success``, ``imported``, ``errors``) when
    every object was imported, else DashboardsImportError."""
    base = url.rstrip("/")
    where = f"{target.app} at {base}"
    if not base.startswith(("http://", "https://")):
        raise DashboardsImportError(f"{where}: the URL must start with http:// or https://")
    content_type, body = multipart(ndjson)
    request = urllib.request.Request(
        base + import_path(space, overwrite),
        data=body,
        method="POST",
        headers={**(headers or {}), "Content-Type": content_type, target.xsrf_header: "true"},
    )
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout_s) as response:
            raw = response.read(MAX_REPLY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise DashboardsImportError(f"{where} refused the import: {_http_error(exc)}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise DashboardsImportError(f"{where} is not reachable: {reason}") from exc
    try:
        reply = json.loads(raw[:MAX_REPLY_BYTES])
        if not isinstance(reply, dict) or "success" not in reply:
            raise ValueError("no `success` field")
    except ValueError as exc:
        raise DashboardsImportError(f"{where} answered something other than the import API's JSON: {exc}") from exc
    result = summary(reply)
    if not result["success"] or result["errors"]:
        failed = "; ".join(result["errors"][:5]) or "no errors listed"
        raise DashboardsImportError(
            f"{where}: the import failed ({result['imported']} imported, {len(result['errors'])} errors: {failed})",
            result,
        )
    return result


def _http_error(exc: urllib.error.HTTPError) -> str:
    """``HTTP 400: <the app's message>`` (the JSON error's ``message`` when there is one)."""
    text = f"HTTP {exc.code}"
    if 300 <= exc.code < 400 and exc.headers.get("Location"):
        return f"{text}, redirected to {exc.headers['Location']} (pass that URL)"
    try:
        raw = exc.read(64 * 1024)
    except OSError:
        raw = b""
    try:
        body = json.loads(raw)
        message = body.get("message") or body.get("error") if isinstance(body, dict) else None
    except ValueError:
        message = raw.decode("utf-8", "replace").strip()[:300]
    return f"{text}: {message}" if message else f"{text} {exc.reason}"
