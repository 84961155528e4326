"""The committed Kibana / OpenSearch Dashboards saved objects (infra/dashboards/*.ndjson) against the store.

Neither app runs here: these check what an import needs of the files (one saved object per JSON line, each
app's migration metadata, references that resolve inside the file) and that every field the objects name is
one the store's mappings write, with the type its use needs; then the prefix rewrite and the import body.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

from flockwatch.dashboards import (
    DEFAULT_PREFIX,
    INDEX_REF,
    TIME_FIELDS,
    Target,
    default_target,
    dumps,
    field_types,
    import_path,
    load,
    multipart,
    ndjson_path,
    problems,
    summary,
    with_prefix,
)
from flockwatch.store.documents import IndexKind
from flockwatch.store.mappings import MAPPINGS

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
TYPES = {"index-pattern", "visualization", "search", "dashboard"}
# The last migration each OpenSearch Dashboards 2.x type registers (its objects say they are at it, so none
# runs again); a newer one than the app knows is refused on import.
OSD_MIGRATIONS = {"index-pattern": "7.6.0", "visualization": "7.10.0", "search": "7.9.3", "dashboard": "7.9.3"}
# What Kibana 8.8+ takes as a dashboard's attributes (its dashboard saved-object schema forbids unknown ones).
KIBANA_DASHBOARD_ATTRIBUTES = {
    "title", "description", "kibanaSavedObjectMeta", "timeRestore", "timeFrom", "timeTo", "refreshInterval",
    "controlGroupInput", "panelsJSON", "optionsJSON", "hits", "version",
}  # fmt: skip


def objects_of(target: Target) -> list[dict[str, Any]]:
    return load(ndjson_path(INFRA, target).read_text(encoding="utf-8"))


def by_id(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["type"], o["id"]): o for o in objects}


def mapped_fields(kind: IndexKind) -> dict[str, str]:
    """Dotted field name → type, walked here independently of flockwatch.dashboards.field_types."""
    out: dict[str, str] = {}
    stack: list[tuple[str, dict[str, Any]]] = [("", MAPPINGS[kind])]
    while stack:
        parent, mapping = stack.pop()
        for name, spec in mapping.get("properties", {}).items():
            out[parent + name] = spec.get("type", "object")
            stack.append((f"{parent}{name}.", spec))
    return out


def kind_of_pattern(obj: dict[str, Any]) -> IndexKind:
    title = obj["attributes"]["title"]
    assert title.startswith(f"{DEFAULT_PREFIX}-") and title.endswith("*"), title
    return IndexKind(title[len(DEFAULT_PREFIX) + 1 : -1])


@pytest.mark.parametrize("target", list(Target))
def test_every_line_is_a_saved_object(target: Target) -> None:
    text = ndjson_path(INFRA, target).read_text(encoding="utf-8")
    lines = text.splitlines()
    assert text.endswith("\n") and all(line.strip() for line in lines)
    objects = [json.loads(line) for line in lines]
    assert dumps(objects) == text  # written as dumps writes them: a rewrite leaves no diff
    assert [o["id"] for o in objects] == [o["id"] for o in load(text)]
    assert len({(o["type"], o["id"]) for o in objects}) == len(objects) == len({o["id"] for o in objects})
    for obj in objects:
        assert obj["type"] in TYPES, obj["id"]  # no Lens: both apps import these
        assert isinstance(obj["attributes"], dict) and obj["attributes"]["title"], obj["id"]
        assert isinstance(obj["references"], list), obj["id"]
        for key in ("visState", "uiStateJSON", "panelsJSON", "optionsJSON"):
            if key in obj["attributes"]:
                json.loads(obj["attributes"][key])
        if "kibanaSavedObjectMeta" in obj["attributes"]:
            json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert {o["type"] for o in objects} == TYPES


def test_migration_metadata_per_app() -> None:
    for obj in objects_of(Target.kibana):
        # Kibana 8.8+ export format: without these an object is migrated from the earliest version.
        assert obj["coreMigrationVersion"] == "8.8.0" and obj["typeMigrationVersion"], obj["id"]
        assert "migrationVersion" not in obj
    for obj in objects_of(Target.opensearch_dashboards):
        assert obj["migrationVersion"] == {obj["type"]: OSD_MIGRATIONS[obj["type"]]}, obj["id"]
        assert "typeMigrationVersion" not in obj and "coreMigrationVersion" not in obj
        assert "name" not in obj["attributes"] or obj["type"] != "index-pattern"  # no such attribute in OSD 2


@pytest.mark.parametrize("target", list(Target))
def test_references_resolve_inside_the_file(target: Target) -> None:
    objects = by_id(objects_of(target))
    for obj in objects.values():
        names = [ref["name"] for ref in obj["references"]]
        assert len(names) == len(set(names)), obj["id"]
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in objects, (obj["id"], ref)
        attrs = obj["attributes"]
        if "kibanaSavedObjectMeta" in attrs:
            source = json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
            assert "index" not in source  # by reference, never by id
            if obj["type"] != "dashboard":
                assert source["indexRefName"] == INDEX_REF and INDEX_REF in names, obj["id"]
                (index,) = [r for r in obj["references"] if r["name"] == INDEX_REF]
                assert index["type"] == "index-pattern"
    (dashboard,) = [o for o in objects.values() if o["type"] == "dashboard"]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {ref["name"]: ref for ref in dashboard["references"]}
    assert len(panels) == len(refs) == 6
    for panel in panels:
        assert "id" not in panel
        name = panel["panelRefName"]
        if target is Target.kibana:  # Kibana 8 dashboards prefix each panel's references with its panelIndex
            ref = refs[f"{panel['panelIndex']}:{name}"]
            assert ref["type"] == panel["type"] and name == f"panel_{panel['panelIndex']}"
        else:  # OpenSearch Dashboards (7.9.3 format): the panel's type comes from its reference
            ref = refs[name]
            assert "type" not in panel
        assert ref["type"] in {"visualization", "search"}
        assert panel["gridData"]["i"] == panel["panelIndex"]
        grid = panel["gridData"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 48 and grid["h"] > 0


@pytest.mark.parametrize("target", list(Target))
def test_every_field_named_is_one_the_store_maps(target: Target) -> None:
    objects = by_id(objects_of(target))
    patterns = {id_: kind_of_pattern(o) for (type_, id_), o in objects.items() if type_ == "index-pattern"}
    assert set(patterns.values()) == set(TIME_FIELDS)
    for id_, kind in patterns.items():
        time_field = objects["index-pattern", id_]["attributes"]["timeFieldName"]
        assert time_field == TIME_FIELDS[kind] and mapped_fields(kind)[time_field] == "date", id_
    checked = 0
    for (type_, id_), obj in objects.items():
        if type_ not in ("visualization", "search"):
            continue
        (index,) = [r for r in obj["references"] if r["name"] == INDEX_REF]
        fields = mapped_fields(patterns[index["id"]])
        attrs = obj["attributes"]
        for agg in json.loads(attrs.get("visState", "{}")).get("aggs", []):
            if agg["type"] == "count":
                continue
            field = agg["params"]["field"]
            want = {"date_histogram": {"date"}, "terms": {"keyword"}, "max": {"long", "float"}}[agg["type"]]
            assert fields.get(field) in want, (id_, agg["type"], field, fields.get(field))
            checked += 1
        for column in attrs.get("columns", []):
            assert column in fields and fields[column] != "object", (id_, column)
            checked += 1
        for field, direction in attrs.get("sort", []):
            assert fields.get(field) in {"keyword", "date", "long", "float"} and direction in {"asc", "desc"}
            checked += 1
    assert checked >= 25


def test_the_index_patterns_match_the_store_index_names() -> None:
    """`<prefix>-<kind>*` covers the kind's alias and indices (monthly for posts), and no other kind's."""
    patterns = [o for o in objects_of(Target.kibana) if o["type"] == "index-pattern"]
    titles = {kind_of_pattern(o): o["attributes"]["title"] for o in patterns}
    for kind in IndexKind:
        names = [f"{DEFAULT_PREFIX}-{kind.value}", f"{DEFAULT_PREFIX}-{kind.value}-000001"]
        names += [f"{DEFAULT_PREFIX}-{kind.value}-2016.10"] if kind is IndexKind.posts else []
        for pattern_kind, title in titles.items():
            assert all(fnmatch.fnmatchcase(n, title) == (pattern_kind is kind) for n in names), (kind, title)


def test_both_files_hold_the_same_objects() -> None:
    kib, osd = by_id(objects_of(Target.kibana)), by_id(objects_of(Target.opensearch_dashboards))
    assert list(kib) == list(osd)
    for key, k in kib.items():
        o = osd[key]
        if key[0] == "dashboard":
            kp, op = json.loads(k["attributes"]["panelsJSON"]), json.loads(o["attributes"]["panelsJSON"])
            assert [p["gridData"] for p in kp] == [p["gridData"] for p in op]
            kr = {r["name"]: r["id"] for r in k["references"]}
            orf = {r["name"]: r["id"] for r in o["references"]}
            assert [kr[f"{p['panelIndex']}:{p['panelRefName']}"] for p in kp] == [orf[p["panelRefName"]] for p in op]
            skip = {"panelsJSON", "optionsJSON"}
        else:
            assert k["references"] == o["references"], key
            skip = {"name"}
        assert {a: v for a, v in k["attributes"].items() if a not in skip} == {
            a: v for a, v in o["attributes"].items() if a not in skip
        }, key


def test_kibana_dashboard_attributes_are_the_ones_kibana_takes() -> None:
    (dashboard,) = [o for o in objects_of(Target.kibana) if o["type"] == "dashboard"]
    assert set(dashboard["attributes"]) <= KIBANA_DASHBOARD_ATTRIBUTES
    assert dashboard["attributes"]["timeRestore"] is True and dashboard["attributes"]["timeFrom"] == "now-15y"


@pytest.mark.parametrize("target", list(Target))
def test_problems_finds_none_in_the_files_and_each_kind_of_breakage(target: Target) -> None:
    objects = objects_of(target)
    assert problems(objects) == []

    def broken(change: Any) -> list[str]:
        copies = copy.deepcopy(objects)
        change(by_id(copies))
        return problems(copies)

    def vis(objs: dict[tuple[str, str], Any], id_: str, edit: Any) -> None:
        attrs = objs["visualization", id_]["attributes"]
        state = json.loads(attrs["visState"])
        edit(state)
        attrs["visState"] = json.dumps(state)

    def agg(field: str, type_: str = "terms") -> Any:
        return lambda s: s["aggs"].append({"id": "9", "type": type_, "schema": "bucket", "params": {"field": field}})

    assert broken(lambda o: vis(o, "flockwatch-top-narratives", agg("nope"))) == [
        "visualization flockwatch-top-narratives: nope is not in the narratives mapping"
    ]
    assert broken(lambda o: vis(o, "flockwatch-top-narratives", agg("representative_text"))) == [
        "visualization flockwatch-top-narratives: terms aggregation on representative_text, a text field"
    ]
    assert broken(lambda o: o["search", "flockwatch-alerts-list"]["attributes"]["sort"].append(["summary", "asc"]))
    assert broken(lambda o: o["index-pattern", "flockwatch-posts"]["attributes"].update(timeFieldName="platform"))
    assert broken(lambda o: o["index-pattern", "flockwatch-posts"]["attributes"].update(title="logs-*"))
    assert broken(lambda o: o["dashboard", "flockwatch-overview"]["references"][0].update(id="gone")) == [
        f"dashboard flockwatch-overview: reference {o_name(target)} points at visualization gone, not in the file"
    ]
    assert "duplicate id" in problems([*objects, objects[0]])[0]


def o_name(target: Target) -> str:
    return "1:panel_1" if target is Target.kibana else "panel_0"


def test_field_types_walks_nested_properties() -> None:
    posts = field_types(MAPPINGS[IndexKind.posts])
    assert posts["author.handle"] == "keyword" and posts["author"] == "object"
    assert posts["text_score.label"] == "keyword" and posts["created_at"] == "date"
    assert field_types(MAPPINGS[IndexKind.clusters]) == mapped_fields(IndexKind.clusters)


@pytest.mark.parametrize("target", list(Target))
def test_with_prefix_renames_ids_references_patterns_and_titles(target: Target) -> None:
    objects = objects_of(target)
    original = copy.deepcopy(objects)
    assert with_prefix(objects, DEFAULT_PREFIX) == objects
    renamed = with_prefix(objects, "acme")
    assert objects == original  # a copy
    assert problems(renamed, "acme") == [] and problems(renamed)  # right for its prefix, wrong for the other
    assert {o["id"] for o in renamed} == {"acme-" + o["id"].removeprefix("flockwatch-") for o in objects}
    for new, old in zip(renamed, objects, strict=True):
        assert all(r["id"].startswith("acme-") for r in new["references"])
        assert [r["name"] for r in new["references"]] == [r["name"] for r in old["references"]]
        if new["type"] == "index-pattern":
            assert new["attributes"]["title"] == "acme-" + old["attributes"]["title"].removeprefix("flockwatch-")
        else:
            assert new["attributes"]["title"] == old["attributes"]["title"] + " (acme)"
        if "visState" in new["attributes"]:
            assert json.loads(new["attributes"]["visState"])["title"] == new["attributes"]["title"]
    assert "flockwatch-" not in "".join(json.dumps(o["references"]) + o["id"] for o in renamed)


def test_load_names_the_bad_line() -> None:
    with pytest.raises(ValueError, match="line 2: not JSON"):
        load('{"type": "search", "id": "a"}\n{oops\n')
    with pytest.raises(ValueError, match="line 1: not a saved object"):
        load('{"id": "a"}\n')
    assert load('\n{"type": "search", "id": "a"}\n\n') == [{"type": "search", "id": "a"}]


def test_multipart_body_has_the_file_part() -> None:
    payload = ndjson_path(INFRA, Target.kibana).read_bytes()
    content_type, body = multipart(payload)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    (part,) = message.iter_parts()
    assert part.get_param("name", header="content-disposition") == "file"
    assert (part.get_filename() or "").endswith(".ndjson")  # Kibana refuses other file extensions
    assert part.get_content_type() == "application/ndjson"
    assert part.get_payload(decode=True) == payload


def test_import_path_and_defaults() -> None:
    assert import_path() == "/api/saved_objects/_import?overwrite=true"
    assert import_path("analysts", overwrite=False) == "/s/analysts/api/saved_objects/_import?overwrite=false"
    assert default_target("elasticsearch") is Target.kibana
    assert default_target("opensearch") is Target.opensearch_dashboards
    assert (Target.kibana.xsrf_header, Target.opensearch_dashboards.xsrf_header) == ("kbn-xsrf", "osd-xsrf")


def test_summary_of_an_import_reply() -> None:
    assert summary({"success": True, "successCount": 12}) == {"success": True, "imported": 12, "errors": []}
    reply = {
        "success": False,
        "successCount": 1,
        "errors": [
            {
                "id": "v",
                "type": "visualization",
                "error": {"type": "missing_references", "references": [{"type": "index-pattern", "id": "p"}]},
            },
            {"id": "d", "type": "dashboard", "error": {"type": "conflict"}},
        ],
    }
    assert summary(reply) == {
        "success": False,
        "imported": 1,
        "errors": ["visualization v: missing_references (index-pattern p)", "dashboard d: conflict"],
    }
