"""Trend alerts and watchlists: pure functions over plain data.

- :mod:`~flockwatch.alerts.bursts`: Kleinberg's two-state burst automaton (batch Viterbi and its online
  form) and a robust z-score / EWMA baseline over per-entity time series.
- :mod:`~flockwatch.alerts.rules`: declarative YAML rules (signals, thresholds, severity, dedupe and
  suppression windows) with line-numbered validation errors.
- :mod:`~flockwatch.alerts.watchlist`: watched entities (names, aliases, handles, languages).
- :mod:`~flockwatch.alerts.engine`: the evaluation core shared by the streaming stage and the DAG sweep.
- :mod:`~flockwatch.alerts.lifecycle`: new → acknowledged → resolved.
- :mod:`~flockwatch.adapters.alert_sinks`: signed webhook, Slack-compatible webhook and SMTP email, with retries.
- :mod:`~flockwatch.alerts.outbox`: which sinks still owe a stored alert a delivery (at-least-once).

Nothing here talks to Kafka, OpenSearch or Airflow: the stage and the sweep receive the store as an
object with a few repositories (see :mod:`~flockwatch.stages.alerts`), which :class:`flockwatch.store.Store` provides.
"""
