from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from flockwatch.exports import stix
from flockwatch.exports.bundle import bundle_files, media_hashes, verify_bundle, write_bundle, zip_bytes
from tests.unit.exports.case_data import SHA_FAKE, case_items

CASE = {"case_id": "k-1", "name": "Election case", "created_at": "2024-05-01T00:00:00Z"}
PLOT = b"\x89PNG fake plot bytes"


def test_zip_holds_items_hashes_stix_files_and_manifest(tmp_path: Path) -> None:
    path = write_bundle(CASE, case_items(), tmp_path / "case.zip", {"cascade.png": PLOT})
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        assert names == {"items.json", "media_hashes.json", "stix.json", "files/cascade.png", "manifest.json"}
        items = json.loads(z.read("items.json"))
        assert items["case"]["case_id"] == "k-1"
        assert len(items["items"]["posts"]) == 8 and "_id" not in items["items"]["posts"][0]
        assert z.read("files/cascade.png") == PLOT
        assert stix.validate(z.read("stix.json").decode())[0] == []
        manifest = json.loads(z.read("manifest.json"))
        assert {f["path"] for f in manifest["files"]} == names - {"manifest.json"}
        png = next(f for f in manifest["files"] if f["path"] == "files/cascade.png")
        assert png["size"] == len(PLOT)
    assert verify_bundle(path) == []


def test_media_hashes_collects_where_each_hash_was_seen() -> None:
    (entry,) = media_hashes(case_items()["posts"])
    assert entry["sha256"] == SHA_FAKE
    assert len(entry["post_keys"]) == 8 and entry["kinds"] == ["image"]
    assert entry["pdq"] == "f" * 64 and entry["bank_matches"][0]["label"] == "known_fake"


def test_media_hashes_keep_observations_beside_signals() -> None:
    obs = {"signal": "lip_sync", "on": "u", "detail": "face 1: audio 300 ms late", "data": {"tracks": []}}
    post = {"key": "p1", "media_by_url": {"h": {"sha256": "AB" * 32, "media_kind": "video", "observations": [obs]}}}
    (entry,) = media_hashes([post])
    assert entry["observations"] == [obs] and entry["signals"] == [] and entry["kinds"] == ["video"]


def test_tampered_file_is_named(tmp_path: Path) -> None:
    content = bundle_files(CASE, case_items(), {"cascade.png": PLOT})
    content["files/cascade.png"] = PLOT + b"!"
    path = tmp_path / "t.zip"
    path.write_bytes(zip_bytes(content))
    problems = verify_bundle(path)
    assert len(problems) == 1 and problems[0].startswith("files/cascade.png: sha256")


def test_directory_bundle_missing_and_extra_files(tmp_path: Path) -> None:
    root = write_bundle(CASE, case_items(), tmp_path / "case", {"a.svg": b"<svg/>"}, as_zip=False)
    assert verify_bundle(root) == []
    (root / "items.json").write_text("{}", encoding="utf-8")
    (root / "media_hashes.json").unlink()
    (root / "files" / "smuggled.txt").write_bytes(b"x")
    problems = verify_bundle(root)
    assert any(p.startswith("items.json: sha256") for p in problems)
    assert "media_hashes.json: listed in the manifest but missing" in problems
    assert "files/smuggled.txt: present but not in the manifest" in problems
    (root / "manifest.json").unlink()
    assert verify_bundle(root) == ["manifest.json: missing"]


def test_not_a_bundle(tmp_path: Path) -> None:
    bad = tmp_path / "x.zip"
    bad.write_bytes(b"not a zip")
    assert verify_bundle(bad)[0].startswith("cannot read the bundle")


@pytest.mark.parametrize("name", ["../evil", "a/b.png", ".hidden", "", "x" * 300])
def test_extra_file_names_must_be_plain(name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        bundle_files(CASE, case_items(), {name: b"x"})


def test_same_case_same_bytes(tmp_path: Path) -> None:
    a = write_bundle(CASE, case_items(), tmp_path / "a.zip", {"p.png": PLOT}).read_bytes()
    b = write_bundle(CASE, case_items(), tmp_path / "b.zip", {"p.png": PLOT}).read_bytes()
    assert a == b
