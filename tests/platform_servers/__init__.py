"""Local servers that speak platforms' protocols and serve their real recorded payloads, for tests.

- :mod:`~tests.platform_servers.http` — the shared handler: request log, fault injection (429 with
  Retry-After, 503, a truncated body, a hang, a redirect, a dropped event stream) and chunked server-sent events.
- :mod:`~tests.platform_servers.cassettes` — replays Betamax (Reddit) and VCR (Mastodon) cassettes by method,
  path and the query parameters that select a page.
- :mod:`~tests.platform_servers.reddit` / :mod:`~tests.platform_servers.mastodon` — live stand-ins built from
  the cassettes' items: real listings/timelines with cursors (``before``/``after``, ``min_id``/``max_id``) and
  items published over time (comment stream, streaming API), for cursor, stream and kill/restart tests.
- :mod:`~tests.platform_servers.jetstream` — Bluesky Jetstream's ``/subscribe`` websocket serving the recorded
  events (cursor, collection and DID filters; drops, refusals, pacing, a live tail).
"""
