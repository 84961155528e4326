"""JSON Schema patterns for free-text DAG parameters, so Airflow refuses a bad value before a run starts."""

from __future__ import annotations

# What datetime.fromisoformat reads: a date, optionally a time with a UTC offset. [0-9], not \d: jsonschema
# checks patterns with Python's re, where \d also matches other scripts' digits, which fromisoformat refuses.
ISO_8601 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"  # date
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"  # time, its UTC offset
)
# A duration flockwatch.yamlconf.parse_duration reads, with at most 4 digits (under 10,000 of its unit).
DURATION = r"^[0-9]{1,4}(\.[0-9]{1,3})?(ms|s|m|h|d|w)$"
