"""Run a connector: write each batch durably, then save its cursor; stop at a limit, a signal or the end.

The order is what makes restarts safe. A batch is written (flushed to Kafka, or to the output file) before
its cursor is saved, so a worker killed in between re-reads that batch on restart: nothing is skipped, and
what is read twice has the same ``platform:id`` key, which every later write treats idempotently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flockwatch.adapters.connectors.base import CollectReport, Connector
from flockwatch.adapters.connectors.cursors import CursorStore
from flockwatch.adapters.connectors.sink import RecordSink

log = logging.getLogger(__name__)


def run_connector(
    connector: Connector,
    sink: RecordSink,
    cursors: CursorStore,
    *,
    limit: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> CollectReport:
    """Collect from ``connector`` into ``sink`` until it ends, ``limit`` records were read or ``should_stop``."""
    key = connector.cursor_key
    source, _, target = key.partition(":")
    report = CollectReport(source=source, target=target, cursor=cursors.load(key))
    batches = connector.batches(report.cursor)
    try:
        for batch in batches:
            records = batch.records
            complete = True
            if limit is not None and report.records + len(records) > limit:
                records = records[: limit - report.records]
                complete = False  # the cursor is past records we did not write: keep the old one
            written, reasons = sink.write(records)
            report.batches += 1
            report.records += len(records)
            report.written += written
            for reason, count in reasons.items():
                report.reasons[reason] = report.reasons.get(reason, 0) + count
                report.rejected += count
            if complete and batch.cursor is not None:
                cursors.save(key, batch.cursor)
                report.cursor = batch.cursor
            if (limit is not None and report.records >= limit) or should_stop():
                break
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # a stream's generator closes its connection
    log.info("collected %s: %d records, %d written, %d rejected", key, report.records, report.written, report.rejected)
    return report
