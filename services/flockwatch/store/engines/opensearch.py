"""OpenSearch (the Apache-2.0 fork of Elasticsearch, same REST API) through its client, ``opensearch-py``.

The only module that imports opensearchpy. Retries are the caller's job (whole batches, with backoff): a hidden
retry inside the client would only stretch an outage's first failure. The one exception is a cluster of several
nodes (``Settings.store_urls``): a request whose node refuses the connection moves on to the next node at once
(the client marks the dead one and skips it for a while), so a killed node costs one failed connect, not an
outage. A timeout is never retried there either: the backoff in ``store.timeouts`` stays the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from flockwatch.adapters.client_security import opensearch_client_args
from flockwatch.config import Settings
from flockwatch.store.documents import StoreUnavailable, WrongStoreEngine
from flockwatch.store.engines.rest import RequestTimedOut, Response, RestEngine

_NDJSON = {"content-type": "application/x-ndjson"}  # lower case: replaces the default, not a second header


class OpenSearchClient:
    """:class:`~flockwatch.store.engines.rest.RestClient` over ``opensearchpy.OpenSearch``."""

    def __init__(self, settings: Settings) -> None:
        self.where = settings.store_url
        # TLS verification against the configured CA, and the API key or user/password; every node as a host.
        urls = settings.store_urls
        self.client = OpenSearch(
            **(opensearch_client_args(settings) | {"hosts": urls}),
            max_retries=len(urls) - 1,  # one try per node, and only on a connection error (below)
            retry_on_timeout=False,
            http_compress=False,
        )
        self.verified = False  # whether the server said it is OpenSearch (checked before the first request)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: str | None = None,
        ndjson: bool = False,
        timeout_s: float,
    ) -> Response:
        if not self.verified and (method, path) != ("GET", "/"):
            self._check_product(timeout_s)
        try:
            headers = _NDJSON if ndjson else None
            data = self.client.transport.perform_request(
                method, path, params=dict(params or {}), body=body, timeout=timeout_s, headers=headers
            )
        except ConnectionTimeout as exc:
            raise RequestTimedOut(f"OpenSearch at {self.where} did not answer in {timeout_s:.1f} s") from exc
        except OSConnectionError as exc:
            raise StoreUnavailable(f"OpenSearch at {self.where} unreachable: {exc}") from exc
        except TransportError as exc:
            if not isinstance(exc.status_code, int):
                raise StoreUnavailable(f"OpenSearch at {self.where}: {exc}") from exc
            return Response(exc.status_code, exc.info)
        return Response(200, data)

    def _check_product(self, timeout_s: float) -> None:
        """The root endpoint names OpenSearch in ``version.distribution``; Elasticsearch does not. (The
        Elasticsearch client makes the same check itself, by a header OpenSearch never sends.)"""
        answer = self.request("GET", "/", timeout_s=timeout_s)
        version = answer.body.get("version", {}) if isinstance(answer.body, dict) else {}
        if answer.status == 200 and version.get("distribution") != "opensearch":
            raise WrongStoreEngine(
                f"the server at {self.where} is not OpenSearch (it says version {version.get('number', '?')} "
                "with no OpenSearch distribution); set FLOCKWATCH_STORE_ENGINE=elasticsearch for Elasticsearch"
            )
        self.verified = answer.status == 200  # any other answer (401, 503...) is judged on the real request


def opensearch_engine(settings: Settings, timeout_s: float | None = None) -> RestEngine:
    return RestEngine(OpenSearchClient(settings), settings, timeout_s)
