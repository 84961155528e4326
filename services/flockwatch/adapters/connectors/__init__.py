"""Live connectors: clients of each platform's public API that turn what it serves into ``RawRecord``s.

Each connector follows one target (a subreddit listing, an instance timeline, a feed, a firehose) and yields
:class:`~flockwatch.adapters.connectors.base.Batch`es: records plus the cursor to resume after them.
:mod:`~flockwatch.adapters.connectors.runner` writes the batch, then the cursor, so a restart resumes where the
last written batch ended (at-least-once; record ids ``platform:id`` make the overlap idempotent).
"""
