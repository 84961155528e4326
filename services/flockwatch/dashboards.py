"""Saved objects for Kibana and OpenSearch Dashboards over the store's indices: plain data and functions.

``infra/dashboards/`` holds two NDJSON exports of the same objects, one per app (each app's migration
metadata; Kibana's dashboard names its panel references ``<panelIndex>:panel_<panelIndex>``):

- index patterns (Kibana: data views) ``<prefix>-posts*``, ``-narratives*``, ``-alerts*``, ``-clusters*`` and
  ``-coordination_edges*``, each with its kind's time field (:data:`TIME_FIELDS`);
- legacy aggregation-based visualizations (both apps import and migrate them) and saved searches;
- the dashboard ``<prefix>-overview`` that lays them out.

The files are written for the default prefix; :func:`with_prefix` rewrites them for another
``FLOCKWATCH_INDEX_PREFIX`` (ids, references, index patterns and titles), so deployments sharing one Kibana
keep apart. :func:`problems` checks a set of objects against the store's mappings; :func:`multipart` builds the
body ``POST /api/saved_objects/_import`` takes. No HTTP here (``flockwatch.adapters.dashboards_import``).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from flockwatch.store.documents import IndexKind
from flockwatch.store.mappings import MAPPINGS

DEFAULT_PREFIX = "flockwatch"  # the prefix the committed files are written for (Settings.index_prefix's default)
DEFAULT_PORT = 5601  # Kibana's and OpenSearch Dashboards' port (infra/compose.yaml publishes it on the host)


class Target(StrEnum):
    kibana = "kibana"
    opensearch_dashboards = "opensearch-dashboards"

    @property
    def app(self) -> str:
        return "Kibana" if self is Target.kibana else "OpenSearch Dashboards"

    @property
    def file_name(self) -> str:
        return f"{self.value}.ndjson"

    @property
    def xsrf_header(self) -> str:
        """The header each app wants on every write request (any value)."""
        return "kbn-xsrf" if self is Target.kibana else "osd-xsrf"


def default_target(store_engine: str) -> Target:
    """Kibana in front of Elasticsearch, OpenSearch Dashboards in front of OpenSearch."""
    return Target.kibana if store_engine == "elasticsearch" else Target.opensearch_dashboards


# The index kinds with an index pattern, and the date field each one's time filter applies to.
TIME_FIELDS: dict[IndexKind, str] = {
    IndexKind.posts: "created_at",  # the post's own time (replays keep their dataset's times)
    IndexKind.narratives: "last_seen",  # a narrative is in range while its posts are
    IndexKind.alerts: "created_at",
    IndexKind.clusters: "window_end",  # one snapshot per cluster and window
    IndexKind.coordination_edges: "last_seen",
}

INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
SORTABLE = {"keyword", "date", "long", "float", "boolean"}


def ndjson_path(infra_dir: Path, target: Target) -> Path:
    return infra_dir / "dashboards" / target.file_name


def load(text: str) -> list[dict[str, Any]]:
    """The saved objects of an NDJSON export, one per non-empty line; ValueError names a bad line."""
    objects: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str) or not isinstance(obj.get("id"), str):
            raise ValueError(f"line {number}: not a saved object (an object with a string `type` and `id`)")
        objects.append(obj)
    return objects


def dumps(objects: Iterable[Mapping[str, Any]]) -> str:
    """NDJSON, one object per line, keys sorted (as the committed files are written)."""
    return "".join(json.dumps(obj, sort_keys=True, ensure_ascii=False) + "\n" for obj in objects)


def with_prefix(objects: Iterable[Mapping[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The objects for indices named ``<prefix>-<kind>...`` instead of the default prefix's: ids and the ids
    references point at, index-pattern titles, and (to tell installs apart) every title gets `` (<prefix>)``."""
    out = [copy.deepcopy(dict(obj)) for obj in objects]
    if prefix == DEFAULT_PREFIX:
        return out
    for obj in out:
        obj["id"] = _rename(obj["id"], prefix)
        for ref in obj.get("references", []):
            ref["id"] = _rename(ref["id"], prefix)
        attrs = obj.get("attributes", {})
        if obj["type"] == "index-pattern":
            attrs["title"] = _rename(attrs["title"], prefix)
            if "name" in attrs:
                attrs["name"] = f"{attrs['name']} ({prefix})"
        elif "title" in attrs:
            attrs["title"] = f"{attrs['title']} ({prefix})"
            if "visState" in attrs:
                vis = json.loads(attrs["visState"])
                vis["title"] = attrs["title"]
                attrs["visState"] = json.dumps(vis, separators=(",", ":"))
    return out


def _rename(name: str, prefix: str) -> str:
    head = f"{DEFAULT_PREFIX}-"
    return f"{prefix}-{name[len(head) :]}" if name.startswith(head) else name


# --- what the objects use of the store's mappings ---------------------------------------------------------


def field_types(mapping: Mapping[str, Any], parent: str = "") -> dict[str, str]:
    """Every field of an index mapping by dotted name (``author.handle``), with its type (``object`` for an
    object without ``type``)."""
    fields: dict[str, str] = {}
    for name, spec in mapping.get("properties", {}).items():
        dotted = f"{parent}{name}"
        fields[dotted] = spec.get("type", "object")
        if "properties" in spec:
            fields |= field_types(spec, f"{dotted}.")
    return fields


def index_kind(title: str, prefix: str = DEFAULT_PREFIX) -> IndexKind | None:
    """The index kind an index-pattern title ``<prefix>-<kind>*`` covers, or None."""
    head = f"{prefix}-"
    if not title.startswith(head) or not title.endswith("*"):
        return None
    try:
        return IndexKind(title[len(head) : -1])
    except ValueError:
        return None


def _json_attr(attrs: Mapping[str, Any], *path: str) -> Any:
    value: Any = attrs
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return json.loads(value) if isinstance(value, str) and value else {}


def fields_used(obj: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(field, role)`` for each field the object names: a visualization's aggregations (role: the
    aggregation type), a saved search's columns (``column``) and sort (``sort``), an index pattern's time field
    (``time``)."""
    attrs = obj.get("attributes", {})
    if obj["type"] == "index-pattern" and attrs.get("timeFieldName"):
        yield attrs["timeFieldName"], "time"
    for agg in _json_attr(attrs, "visState").get("aggs", []):
        if "field" in agg.get("params", {}):
            yield agg["params"]["field"], agg["type"]
    for column in attrs.get("columns", []):
        yield column, "column"
    for field, _direction in attrs.get("sort", []):
        yield field, "sort"


# Aggregations and the field types they take.
_AGG_TYPES = {
    "date_histogram": {"date"},
    "terms": {"keyword", "long", "boolean"},
    "max": {"long", "float", "date"},
    "min": {"long", "float", "date"},
    "avg": {"long", "float"},
    "sum": {"long", "float"},
    "cardinality": {"keyword", "long", "date"},
}


def problems(objects: list[dict[str, Any]], prefix: str = DEFAULT_PREFIX) -> list[str]:
    """What would break these objects once imported: duplicate ids, references to objects not in the set,
    index patterns over no known index kind or with a non-date time field, and fields that the store's
    mappings lack or that the use made of them does not fit (a terms aggregation on a text field...). Empty
    when all is well."""
    found: list[str] = []
    by_id: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects:
        key = (obj["type"], obj["id"])
        if key in by_id:
            found.append(f"{obj['type']} {obj['id']}: duplicate id")
        by_id[key] = obj
    kinds: dict[str, IndexKind] = {}
    kind: IndexKind | None
    for (type_, id_), obj in by_id.items():
        if type_ != "index-pattern":
            continue
        kind = index_kind(obj["attributes"].get("title", ""), prefix)
        if kind is None:
            found.append(f"index-pattern {id_}: title {obj['attributes'].get('title')!r} is no {prefix}-<kind>*")
        else:
            kinds[id_] = kind
    for (type_, id_), obj in by_id.items():
        where = f"{type_} {id_}"
        for ref in obj.get("references", []):
            if (ref["type"], ref["id"]) not in by_id:
                found.append(f"{where}: reference {ref['name']} points at {ref['type']} {ref['id']}, not in the file")
        if type_ == "index-pattern":
            if id_ not in kinds:
                continue  # reported above
            kind = kinds[id_]
        else:
            index_ref = next((r for r in obj.get("references", []) if r["name"] == INDEX_REF), None)
            kind = kinds.get(index_ref["id"]) if index_ref else None
        used = list(fields_used(obj))
        if used and kind is None:
            found.append(f"{where}: names fields but has no index pattern of a known kind")
            continue
        if kind is None:
            continue
        types = field_types(MAPPINGS[kind])
        for field, role in used:
            have = types.get(field)
            if have is None:
                found.append(f"{where}: {field} is not in the {kind.value} mapping")
            elif role == "time" and (have != "date" or TIME_FIELDS.get(kind) != field):
                found.append(f"{where}: time field {field} is {have}, or not {kind.value}'s time field")
            elif role == "sort" and have not in SORTABLE:
                found.append(f"{where}: sorts on {field}, a {have} field")
            elif role in _AGG_TYPES and have not in _AGG_TYPES[role]:
                found.append(f"{where}: {role} aggregation on {field}, a {have} field")
    return found


# --- the import request -------------------------------------------------------------------------------


def import_path(space: str | None = None, overwrite: bool = True) -> str:
    """The import API's path and query (in a Kibana space when one is named)."""
    base = f"/s/{space}" if space else ""
    return f"{base}/api/saved_objects/_import?overwrite={'true' if overwrite else 'false'}"


def multipart(ndjson: bytes, filename: str = "flockwatch.ndjson") -> tuple[str, bytes]:
    """``(content type, body)`` of a multipart/form-data request whose ``file`` part is the NDJSON (the apps
    want the file name to end in ``.ndjson``)."""
    boundary = f"flockwatch-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
    ).encode()
    return f"multipart/form-data; boundary={boundary}", head + ndjson + f"\r\n--{boundary}--\r\n".encode()


def summary(reply: Mapping[str, Any]) -> dict[str, Any]:
    """The import API's answer in short: success, how many objects were imported, and each error as
    ``"<type> <id>: <error type>"`` (missing references named)."""
    errors = []
    for err in reply.get("errors") or []:
        kind = (err.get("error") or {}).get("type", "error")
        missing = (err.get("error") or {}).get("references") or []
        names = [f"{m.get('type')} {m.get('id')}" for m in missing]
        detail = f" ({', '.join(names)})" if names else ""
        errors.append(f"{err.get('type')} {err.get('id')}: {kind}{detail}")
    return {"success": reply.get("success") is True, "imported": int(reply.get("successCount") or 0), "errors": errors}
