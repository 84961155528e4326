"""The bank file: a cut last line is skipped and counted (and the next add does not run on from it); the same
bytes are banked once, whatever the path, and keep the label they were banked with."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flockwatch.media.bank import Bank, parse_records


def picture(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    return path


def test_a_cut_last_line_is_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bank = Bank(tmp_path / "bank")
    bank.add([picture(tmp_path / "a.png")])
    with bank.path.open("a") as f:
        f.write('{"item": "/x.png", "sha')  # what an interrupted add leaves
    again = Bank(bank.directory)
    assert [i.item for i in again.items()] == [str(tmp_path / "a.png")] and again.bad_lines == 1
    assert "skipped 1 line(s)" in caplog.text


def test_an_add_after_a_cut_line_is_kept(tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank")
    bank.add([picture(tmp_path / "a.png")])
    with bank.path.open("a") as f:
        f.write('{"item": "/x.png", "sha')
    bank.add([picture(tmp_path / "b.png", seed=1)])
    fresh = Bank(bank.directory)
    assert [Path(i.item).name for i in fresh.items()] == ["a.png", "b.png"] and fresh.bad_lines == 1


def test_records_that_are_not_bank_items_are_skipped() -> None:
    good = '{"item":"a","sha256":"s","kind":"image","label":"known_fake","note":"","added_at":"t","hashes":{}}'
    items, bad = parse_records([good, "", "[1, 2]", '{"item": "a"}', good.replace("{}", '"x"'), "\x00"])
    assert [i.item for i in items] == ["a"] and bad == 4


def test_the_same_bytes_are_banked_once_and_keep_their_label(tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank")
    original = picture(tmp_path / "a.png")
    copy = shutil.copyfile(original, tmp_path / "copy.png")
    first = bank.add_file(original, label="known_fake")
    assert first.status == "added"
    again = bank.add_file(original, label="known_fake")
    assert again.status == "already" and again.item == first.item
    elsewhere = bank.add_file(copy, label="authentic")
    assert elsewhere.status == "already" and elsewhere.item.item == str(original)
    assert elsewhere.item.label == "known_fake"  # a banked record is never rewritten
    assert len(Bank(bank.directory).items()) == 1
