"""Elasticsearch through its official client, ``elasticsearch`` 8.19.

The only module that imports elasticsearch. The 8.19 client talks to Elasticsearch 7.17 (the node `flockwatch up`
runs), 8.x and 9.x (9.x servers accept its compatible-with=8 requests), and checks on its first answer that the
server is Elasticsearch (the ``X-Elastic-Product`` header), which an OpenSearch server never sends. Retries are the
caller's job (whole batches, with backoff), except that with several node URLs (``Settings.store_urls``) a refused
connection moves on to the next node at once; a timeout is never retried.
"""

from __future__ import annotations

from collections.abc import Mapping

from elastic_transport import TransportError
from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch import ConnectionTimeout as ESConnectionTimeout
from elasticsearch import Elasticsearch, UnsupportedProductError

from flockwatch.adapters.client_security import elasticsearch_client_args
from flockwatch.config import Settings
from flockwatch.store.documents import StoreUnavailable, WrongStoreEngine
from flockwatch.store.engines.rest import RequestTimedOut, Response, RestEngine

# Every error status comes back as a Response for RestEngine to judge, never as an ApiError.
_ANY_ERROR = list(range(300, 600))
_JSON = {"accept": "application/json", "content-type": "application/json"}
_NDJSON = {"accept": "application/json", "content-type": "application/x-ndjson"}


class ElasticsearchClient:
    """:class:`~flockwatch.store.engines.rest.RestClient` over ``elasticsearch.Elasticsearch``."""

    def __init__(self, settings: Settings) -> None:
        self.where = settings.store_location
        # URL or cloud id, TLS verification against the configured CA, and the API key or user/password.
        args = elasticsearch_client_args(settings)
        if "hosts" in args:  # every node of the cluster (a cloud id finds its own)
            args["hosts"] = settings.store_urls
        nodes = len(args.get("hosts", [1]))
        # One try per node, and only on a refused connection: a timeout is never retried.
        self.client = Elasticsearch(**args, max_retries=nodes - 1, retry_on_timeout=False, http_compress=False)

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
        client = self.client.options(request_timeout=timeout_s, ignore_status=_ANY_ERROR)
        try:
            answer = client.perform_request(
                method, path, params=dict(params or {}), headers=_NDJSON if ndjson else _JSON, body=body
            )
        except UnsupportedProductError as exc:
            raise self._wrong_engine() from exc
        except ESConnectionTimeout as exc:
            raise RequestTimedOut(f"Elasticsearch at {self.where} did not answer in {timeout_s:.1f} s") from exc
        except (ESConnectionError, TransportError) as exc:
            # "TLS error" alone does not say which: the cause does.
            cause = f" ({exc.__cause__})" if exc.__cause__ is not None and not exc.errors else ""
            raise StoreUnavailable(f"Elasticsearch at {self.where} unreachable: {exc}{cause}") from exc
        if answer.meta.status == 406 and "x-elastic-product" not in answer.meta.headers:
            # OpenSearch refuses the client's Elasticsearch-8 media type before it answers anything else.
            raise self._wrong_engine()
        return Response(answer.meta.status, answer.body)

    def _wrong_engine(self) -> WrongStoreEngine:
        return WrongStoreEngine(
            f"the server at {self.where} is not Elasticsearch (no X-Elastic-Product header); "
            "set FLOCKWATCH_STORE_ENGINE=opensearch for OpenSearch"
        )


def elasticsearch_engine(settings: Settings, timeout_s: float | None = None) -> RestEngine:
    return RestEngine(ElasticsearchClient(settings), settings, timeout_s)
