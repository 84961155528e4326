"""Posts, accounts, cascades, cascade events and coordination edges as flat rows, written as CSV, JSONL or Parquet.

One row per document (per event for ``cascade_events``), one fixed column list per kind (:data:`COLUMNS`) with one
type per column (``str``, ``int``, ``float``, ``bool``, ``time``), so every format reads back the same table:

* **Parquet** (pyarrow) carries the types: ``string``, ``int64``, ``float64``, ``bool``, ``timestamp[us, UTC]``;
  missing values are nulls. ``pandas.read_parquet`` gives ``object``/``Int64``-able/``float64``/``datetime64[ns,
  UTC]`` columns without options.
* **CSV** (UTF-8, header row, ``,``): times as ISO 8601 in UTC, bools as ``true``/``false``, missing values as
  empty cells; text that a spreadsheet would run as a formula gets a leading ``'`` (:mod:`flockwatch.csv_cells`).
  :func:`pandas_read_csv_options` gives ``pandas.read_csv`` the dtypes and date columns.
* **JSONL**: one JSON object per line with every column in order; times as ISO strings, missing values ``null``.

Flattening (documented per column in :data:`COLUMNS`): nested objects become prefixed columns (``author.handle`` →
``author_handle``, ``engagement.likes`` → ``likes``, ``text_score.machine_score`` → ``machine_score``,
``text_score.interval`` → ``machine_score_low`` and ``machine_score_high``, ``significance_window.start`` →
``significance_window_start``); lists (urls, hashtags, mentions, media, partners,
kinds, cluster ids) are joined with a single space (none of their items holds a space: URLs are percent-encoded,
the rest are ids or tags); ``examples`` of edges are kept as the stage wrote them (``" | "``-joined). Fields not
listed are not exported (``coactions``, ``post_keys``, ``events``: use ``cascade_events``; evidence lists).

Inputs are the store documents (see :mod:`flockwatch.exports`): **posts** (index stage ``post_document`` with text
and media scores merged), **accounts** (graph stage ``AccountEntry.document`` merged with rollups
``account_document``), **cascades** (``CascadeEntry.document``), **coordination_edges** (``EdgeEntry.document``).
A value that does not fit its column's type (a malformed document) is written as missing, never raised.
With ``pseudonymise`` every account id field is rewritten first (:mod:`flockwatch.exports.pseudonyms`) and the
handle and display-name columns stay empty.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from flockwatch.csv_cells import safe_cell
from flockwatch.dotted import dotted_get
from flockwatch.exports import pseudonyms
from flockwatch.exports.pseudonyms import Pseudonymise

Kind = Literal["posts", "accounts", "cascades", "cascade_events", "edges"]
ColumnType = Literal["str", "int", "float", "bool", "time"]
TableFormat = Literal["csv", "jsonl", "parquet"]
TABLE_FORMATS: tuple[TableFormat, ...] = ("csv", "jsonl", "parquet")
JOIN = " "

# kind -> (column, type); the order is the files' column order.
COLUMNS: dict[str, tuple[tuple[str, ColumnType], ...]] = {
    "posts": (
        ("key", "str"),
        ("platform", "str"),
        ("platform_id", "str"),
        ("created_at", "time"),
        ("language", "str"),
        ("account_key", "str"),
        ("author_id", "str"),
        ("author_handle", "str"),
        ("author_display_name", "str"),
        ("author_followers", "int"),
        ("author_following", "int"),
        ("author_category", "str"),
        ("text", "str"),
        ("parent_key", "str"),
        ("reply_to", "str"),
        ("reshare_of", "str"),
        ("quote_of", "str"),
        ("root_id", "str"),
        ("urls", "str"),
        ("hashtags", "str"),
        ("mentions", "str"),
        ("media_urls", "str"),
        ("media_sha256", "str"),
        ("likes", "int"),
        ("reshares", "int"),
        ("replies", "int"),
        ("quotes", "int"),
        ("views", "int"),
        ("machine_score", "float"),
        ("machine_score_low", "float"),
        ("machine_score_high", "float"),
        ("text_label", "str"),
        ("text_model", "str"),
        ("narrative_id", "str"),
        ("narrative_how", "str"),
        ("media_risk", "float"),
        ("media_scored", "int"),
        ("media_bank_matches", "int"),
        ("source_format", "str"),
        ("source_uri", "str"),
        ("collected_at", "time"),
    ),
    "accounts": (
        ("key", "str"),
        ("platform", "str"),
        ("handle", "str"),
        ("post_count", "int"),
        ("first_seen", "time"),
        ("last_seen", "time"),
        ("n_partners", "int"),
        ("partners", "str"),
        ("coordination_kinds", "str"),
        ("cluster_id", "str"),
        ("cluster_ids", "str"),
        ("cluster_window_end", "time"),
        ("machine_score", "float"),
        ("machine_share", "float"),
        ("machine_label", "str"),
        ("machine_n_posts", "int"),
        ("machine_n_scored", "int"),
        ("machine_last_seen", "time"),
    ),
    "cascades": (
        ("cascade_id", "str"),
        ("root_key", "str"),
        ("platform", "str"),
        ("size", "int"),
        ("depth", "int"),
        ("max_breadth", "int"),
        ("structural_virality", "float"),
        ("branching_factor", "float"),
        ("root_share", "float"),
        ("lifetime", "float"),
        ("spreader_gini", "float"),
        ("coordinated_share", "float"),
        ("risk_score", "float"),
        ("early_warning_score", "float"),
        # with an account history (flockwatch.graph.account_history): the scores before the fusion, what it read
        ("spread_risk_score", "float"),
        ("spread_early_warning_score", "float"),
        ("resharer_history_score", "float"),
        ("resharers_with_a_record", "int"),
        ("n_accounts", "int"),
        ("first_seen", "time"),
        ("last_seen", "time"),
        ("placeholder_root", "bool"),
        ("merged_into", "str"),
    ),
    "cascade_events": (
        ("cascade_id", "str"),
        ("post_key", "str"),
        ("parent_key", "str"),
        ("time", "time"),
        ("account", "str"),
    ),
    "edges": (
        ("edge_id", "str"),
        ("kind", "str"),
        ("source", "str"),
        ("target", "str"),
        ("weight", "int"),
        ("n_coactions", "int"),
        ("n_objects", "int"),
        ("first_seen", "time"),
        ("last_seen", "time"),
        ("min_dt_s", "float"),
        ("median_dt_s", "float"),
        ("source_first_share", "float"),
        ("examples", "str"),
        ("p_value", "float"),
        ("q_value", "float"),
        ("p_perm", "float"),
        ("null_mean", "float"),
        ("significant", "bool"),
        ("significance_window_start", "time"),
        ("significance_window_end", "time"),
    ),
}
KINDS: tuple[str, ...] = tuple(COLUMNS)


# --------------------------------------------------------------------------------------------------------
# Values


def to_time(value: Any) -> datetime | None:
    """A UTC datetime from what the store holds: ISO 8601 text (``Z``, an offset, or naive = UTC), epoch seconds
    (the cascades' events) or a datetime; None for anything else."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        if isinstance(value, datetime):
            when = value
        elif isinstance(value, int | float):
            if not math.isfinite(value):
                return None
            when = datetime.fromtimestamp(float(value), UTC)
        else:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def coerce(value: Any, kind: ColumnType) -> Any:
    """``value`` as its column's type, or None when missing or not convertible."""
    if value is None:
        return None
    if kind == "time":
        return to_time(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None
    if kind == "int":
        if isinstance(value, bool):
            return int(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return int(number) if math.isfinite(number) and number == int(number) else None
    if kind == "float":
        if isinstance(value, bool):
            return float(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, list | tuple | set):
        return JOIN.join(str(v) for v in value if v is not None and v != "")
    return str(value)


# --------------------------------------------------------------------------------------------------------
# Rows per kind


def _media_entries(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = doc.get("media_by_url")
    return [e for e in entries.values() if isinstance(e, Mapping)] if isinstance(entries, Mapping) else []


def _post_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    media = [m for m in doc.get("media") or [] if isinstance(m, Mapping)]
    scored = _media_entries(doc)
    hashes = [m.get("sha256") for m in media] + [e.get("sha256") for e in scored]
    return {
        **{
            k: doc.get(k)
            for k in (
                "key",
                "platform",
                "platform_id",
                "created_at",
                "language",
                "account_key",
                "text",
                "parent_key",
                "reply_to",
                "reshare_of",
                "quote_of",
                "root_id",
                "urls",
                "hashtags",
                "mentions",
                "narrative_id",
                "narrative_how",
                "media_risk",
                "collected_at",
            )
        },
        "account_key": pseudonyms.post_account(doc),
        "author_id": dotted_get(doc, "author.id"),
        "author_handle": dotted_get(doc, "author.handle"),
        "author_display_name": dotted_get(doc, "author.display_name"),
        "author_followers": dotted_get(doc, "author.followers"),
        "author_following": dotted_get(doc, "author.following"),
        "author_category": dotted_get(doc, "author.category"),
        "media_urls": [m.get("url") for m in media],
        "media_sha256": list(dict.fromkeys(h for h in hashes if h)),
        **{k: dotted_get(doc, f"engagement.{k}") for k in ("likes", "reshares", "replies", "quotes", "views")},
        "machine_score": dotted_get(doc, "text_score.machine_score"),
        **_interval(dotted_get(doc, "text_score.interval")),
        "text_label": dotted_get(doc, "text_score.label"),
        "text_model": dotted_get(doc, "text_score.model"),
        "media_scored": sum(1 for e in scored if isinstance(e.get("manipulation_score"), int | float)),
        "media_bank_matches": sum(len(e.get("matches") or []) for e in scored),
        "source_format": dotted_get(doc, "source.format"),
        "source_uri": dotted_get(doc, "source.uri"),
    }


def _interval(stored: Any) -> dict[str, Any]:
    """The stored score's interval as two columns (empty when it has none, or one written before intervals)."""
    ok = isinstance(stored, list | tuple) and len(stored) == 2
    return {"machine_score_low": stored[0] if ok else None, "machine_score_high": stored[1] if ok else None}


def _account_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(doc)
    row["key"] = doc.get("key") or doc.get("_id")
    return row


def _edge_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(doc)
    row["significance_window_start"] = dotted_get(doc, "significance_window.start")
    row["significance_window_end"] = dotted_get(doc, "significance_window.end")
    return row


def _event_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    cid = doc.get("cascade_id") or doc.get("_id")
    out = []
    for row in doc.get("events") or []:
        if len(row) < 3:
            continue
        out.append(
            {
                "cascade_id": cid,
                "post_key": row[0],
                "parent_key": row[1],
                "time": row[2],
                "account": row[3] if len(row) > 3 else None,
            }
        )
    return out


def rows(
    kind: str, docs: Iterable[Mapping[str, Any]], *, pseudonymise: Pseudonymise | None = None
) -> list[dict[str, Any]]:
    """Store documents of ``kind`` as typed rows with exactly :data:`COLUMNS` ``[kind]``, in that order.

    ``cascade_events`` takes **cascades** documents and gives one row per event."""
    columns = _columns(kind)
    source = "cascades" if kind == "cascade_events" else kind
    views = pseudonyms.items({source: docs}, pseudonymise)[source] if pseudonymise else list(docs)
    raw: list[Mapping[str, Any]]
    if kind == "posts":
        raw = [_post_row(d) for d in views]
    elif kind == "accounts":
        raw = [_account_row(d) for d in views]
    elif kind == "edges":
        raw = [_edge_row(d) for d in views]
    elif kind == "cascade_events":
        raw = [r for d in views for r in _event_rows(d)]
    elif kind == "cascades":
        raw = [_cascade_row(d) for d in views]
    else:
        raw = [{**d, "cascade_id": d.get("cascade_id") or d.get("_id")} for d in views]
    return [{name: coerce(r.get(name), typ) for name, typ in columns} for r in raw]


def _cascade_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    history = doc.get("resharer_history") or {}
    return {**doc, "cascade_id": doc.get("cascade_id") or doc.get("_id"),
            "resharer_history_score": history.get("score"),
            "resharers_with_a_record": history.get("known_resharers")}  # fmt: skip


def _columns(kind: str) -> tuple[tuple[str, ColumnType], ...]:
    try:
        return COLUMNS[kind]
    except KeyError:
        raise ValueError(f"unknown table kind {kind!r}; expected one of {', '.join(KINDS)}") from None


# --------------------------------------------------------------------------------------------------------
# Writers


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _text(value: Any) -> Any:
    """A cell as CSV/JSON text: times ISO, bools lower-case words (CSV only), the rest as is."""
    if isinstance(value, datetime):
        return _iso(value)
    return value


def _finish(data: bytes, dest: Path | str | None) -> bytes:
    if dest is not None:
        Path(dest).write_bytes(data)
    return data


def to_csv(table: Sequence[Mapping[str, Any]], kind: str, dest: Path | str | None = None) -> bytes:
    """``table`` (rows of ``kind``, as :func:`rows` makes them) as CSV bytes; also written to ``dest`` if given."""
    columns = _columns(kind)
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)  # RFC 4180 CRLF: a cell holding \r or \n is then quoted
    writer.writerow([name for name, _ in columns])
    for row in table:
        cells: list[object] = []
        for name, _ in columns:
            value = row.get(name)
            if value is None:
                cells.append("")
            elif isinstance(value, bool):
                cells.append("true" if value else "false")
            else:
                cells.append(safe_cell(_text(value)))
        writer.writerow(cells)
    return _finish(handle.getvalue().encode("utf-8"), dest)


def to_jsonl(table: Sequence[Mapping[str, Any]], kind: str, dest: Path | str | None = None) -> bytes:
    """``table`` as JSON Lines bytes (every column, in order, on every line); also written to ``dest``."""
    columns = _columns(kind)
    lines = [json.dumps({name: _text(row.get(name)) for name, _ in columns}, ensure_ascii=False) for row in table]
    return _finish(("\n".join(lines) + "\n" if lines else "").encode("utf-8"), dest)


def arrow_schema(kind: str) -> Any:
    """The ``pyarrow.Schema`` of ``kind``'s table."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    types = {
        "str": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "time": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([pa.field(name, types[typ], nullable=True) for name, typ in _columns(kind)])


def to_parquet(table: Sequence[Mapping[str, Any]], kind: str, dest: Path | str | None = None) -> bytes:
    """``table`` as Parquet bytes (zstd-compressed, typed by :func:`arrow_schema`); also written to ``dest``."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    schema = arrow_schema(kind)
    arrays = {name: [row.get(name) for row in table] for name in schema.names}
    arrow = pa.Table.from_pydict(arrays, schema=schema)
    sink = io.BytesIO()
    pq.write_table(arrow, sink, compression="zstd")
    return _finish(sink.getvalue(), dest)


WRITERS: dict[str, Callable[[Sequence[Mapping[str, Any]], str, Path | str | None], bytes]] = {
    "csv": to_csv,
    "jsonl": to_jsonl,
    "parquet": to_parquet,
}


def export_table(
    kind: str,
    docs: Iterable[Mapping[str, Any]],
    fmt: TableFormat,
    dest: Path | str | None = None,
    *,
    pseudonymise: Pseudonymise | None = None,
) -> bytes:
    """Documents of ``kind`` → rows → ``fmt`` bytes in one call (what a route or command needs)."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown table format {fmt!r}; expected one of {', '.join(TABLE_FORMATS)}")
    return WRITERS[fmt](rows(kind, docs, pseudonymise=pseudonymise), kind, dest)


def pandas_read_csv_options(kind: str) -> dict[str, Any]:
    """Keyword arguments for ``pandas.read_csv`` that give the typed table back (pandas is not needed here):
    ``dtype`` (``string``, ``Int64``, ``float64``, ``boolean``) and ``parse_dates`` (the time columns)."""
    names = {"str": "string", "int": "Int64", "float": "float64", "bool": "boolean"}
    columns = _columns(kind)
    return {
        "dtype": {name: names[typ] for name, typ in columns if typ != "time"},
        "parse_dates": [name for name, typ in columns if typ == "time"],
        "keep_default_na": False,
        "na_values": [""],
    }
