"""Model ids name the settings and weights, never the run: same files, same id; any byte changed, a new id."""

from __future__ import annotations

import shutil
from pathlib import Path

from flockwatch.media.synthetic_image import DEFAULT_MODEL_DIR as IMAGE_DIR
from flockwatch.media.synthetic_image import load_model as load_image_model
from flockwatch.media.voice_clone import DEFAULT_MODEL_DIR as VOICE_DIR
from flockwatch.media.voice_clone import load_model as load_voice_model
from flockwatch.model_id import files_model_id


def test_same_files_same_id_and_any_change_a_new_one(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text('{"l2": 1.0}')
    (tmp_path / "weights.bin").write_bytes(b"\x00\x01")
    first = files_model_id("m", tmp_path, ["model.json", "weights.bin"])
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("model.json", "weights.bin"):
        shutil.copy(tmp_path / name, copy / name)
    assert files_model_id("m", copy, ["model.json", "weights.bin"]) == first  # where and when do not matter
    (copy / "weights.bin").write_bytes(b"\x00\x02")
    assert files_model_id("m", copy, ["model.json", "weights.bin"]) != first
    (copy / "weights.bin").write_bytes(b"\x00\x01")
    (copy / "model.json").write_text('{"l2": 2.0}')
    assert files_model_id("m", copy, ["model.json", "weights.bin"]) != first
    assert first.startswith("m@") and len(first) == len("m@") + 10


def test_committed_media_models_carry_their_file_ids() -> None:
    image = load_image_model(IMAGE_DIR)
    assert image.name == files_model_id("synthetic_image v2", IMAGE_DIR, ["model.json", "weights.pt"])
    voice = load_voice_model(VOICE_DIR)
    assert voice.model_id == files_model_id("voice_clone", VOICE_DIR, ["model.json", "weights.npz"])
