"""`flockwatch train ...`: every command keeps its options, defaults and help (the contract the model cards and
docs quote), calls its training function with them, and `--card-only` re-renders a card without training."""

from __future__ import annotations

import inspect
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from flockwatch.cli.app import app
from flockwatch.cli.train import train_app
from flockwatch.config import REPO_ROOT, get_settings

OUT_DEFAULT = "Model folder (default: the committed one under models/)."
CARD_ONLY = "Only re-render the card's figure blocks from the committed JSON files."
DATA_DIR = "Shared data folder (default: $FLOCKWATCH_DATA_DIR, else ../shared/data)."

# option (`--x/--no-x` for a switch) -> (default, help). The first options of each command are those the command
# had before the training modules lost their argparse; the rest are the flags only `python -m` reached then.
CONTRACT: dict[str, dict[str, tuple[object, str]]] = {
    "cascade-risk": {"--out": (None, "Model folder (default: models/cascade_risk).")},
    "text-detector": {
        "--out": (None, "Model folder (default models/text_detector)."),
        "--evaluate/--no-evaluate": (True, "Also run account-disjoint CV and leave-one-out (slower)."),
        "--backend": ("onnx-int8", "Embedding backend: onnx-int8, onnx or torch."),
    },
    "synthetic-image": {
        "--out": (None, OUT_DEFAULT),
        "--seed": (0, "Draws only the bootstrap resamples of the AUROC intervals (the fit is deterministic)."),
        "--card-only": (False, CARD_ONLY),
        "--data-dir": (None, DATA_DIR),
    },
    "voice-clone": {
        "--out": (None, OUT_DEFAULT),
        "--seed": (0, "Draws the train/calibration/report speaker split (and so the weights)."),
        "--evaluate/--no-evaluate": (
            True,
            "Also run the leave-one-clip-out folds (--no-evaluate: the same weights and threshold, no folds).",
        ),
        "--card-only": (False, CARD_ONLY),
        "--data-dir": (None, DATA_DIR),
    },
    "face-video": {
        "--out": (None, OUT_DEFAULT),
        "--seed": (0, "Seeds the self-blending and the CNN's training."),
        "--steps": (360, "Training steps of each CNN (the fold models and the shipped one)."),
        "--folds/--no-folds": (True, "Also run the leave-one-identity-out folds (--no-folds: only the shipped model)."),
        "--card-only": (False, CARD_ONLY),
        "--data-dir": (None, DATA_DIR),
    },
}
SUMMARY = {
    "cascade-risk": "Train the cascade risk score on Twitter15 (false vs true rumours)",
    "text-detector": "Rebuild models/text_detector from ../shared/data/text (TweepFake, AuthorMimic); print dev",
    "synthetic-image": "Rebuild models/synthetic_image on cnndetection and print its leave-one-generator-out AUROC.",
    "voice-clone": "Rebuild models/voice_clone on audio/voice_clone and print its held-out figures",
    "face-video": "Rebuild models/face_video (self-blended real faces) and print its held-out clip figures.",
}


def _command(name: str) -> Any:
    group = typer.main.get_command(train_app)
    return group.commands[name]  # type: ignore[attr-defined]


def test_train_group_lists_the_five_commands() -> None:
    result = CliRunner().invoke(app, ["train", "--help"])
    assert result.exit_code == 0, result.output
    assert list(typer.main.get_command(train_app).commands) == list(CONTRACT)  # type: ignore[attr-defined]
    for name in CONTRACT:
        assert name in result.output


@pytest.mark.parametrize("name", list(CONTRACT))
def test_help_lists_the_recorded_options(name: str) -> None:
    result = CliRunner().invoke(app, ["train", name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for option in CONTRACT[name]:
        for flag in option.split("/"):
            assert flag in result.output, f"`flockwatch train {name} --help` lost {flag}"
    cmd = _command(name)
    got = {"/".join(p.opts + p.secondary_opts): (p.default, p.help) for p in cmd.params}
    assert got == CONTRACT[name]
    assert " ".join(cmd.help.split()).startswith(SUMMARY[name])


def test_cli_defaults_are_the_training_functions_defaults() -> None:
    from flockwatch.training import face, image, voice

    for name, fn in [
        ("synthetic-image", image.train_synthetic_image),
        ("voice-clone", voice.train_voice_clone),
        ("face-video", face.train_face_video),
    ]:
        params = inspect.signature(fn).parameters
        for option, (default, _help) in CONTRACT[name].items():
            arg = option.split("/")[0].removeprefix("--").replace("-", "_")
            arg = {"out": "out_dir"}.get(arg, arg)
            assert all(p.kind is p.KEYWORD_ONLY for p in params.values())
            if default is not None:  # None: the command fills in the model folder or the configured data dir
                assert params[arg].default == default, (name, option)
    assert CONTRACT["face-video"]["--steps"][0] == face.STEPS


def _record(monkeypatch: pytest.MonkeyPatch, module: str, fn: str) -> list[dict[str, Any]]:
    import importlib

    calls: list[dict[str, Any]] = []

    def fake(**kwargs: Any) -> str:
        calls.append(kwargs)
        return "the report"

    monkeypatch.setattr(importlib.import_module(module), fn, fake)
    return calls


@pytest.mark.parametrize(
    ("name", "module", "fn", "args", "expected"),
    [
        (
            "synthetic-image",
            "flockwatch.training.image",
            "train_synthetic_image",
            ["--seed", "3", "--card-only"],
            {"seed": 3, "card_only": True},
        ),
        (
            "voice-clone",
            "flockwatch.training.voice",
            "train_voice_clone",
            ["--no-evaluate", "--seed", "2"],
            {"seed": 2, "evaluate": False, "card_only": False},
        ),
        (
            "face-video",
            "flockwatch.training.face",
            "train_face_video",
            ["--steps", "5", "--no-folds"],
            {"seed": 0, "steps": 5, "folds": False, "card_only": False},
        ),
    ],
)
def test_commands_call_their_training_function(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
    module: str,
    fn: str,
    args: list[str],
    expected: dict[str, Any],
) -> None:
    calls = _record(monkeypatch, module, fn)
    result = CliRunner().invoke(app, ["train", name, *args])
    assert result.exit_code == 0, result.output
    assert result.output == "the report\n"
    (call,) = calls
    assert call["data_dir"] == get_settings().data_dir
    assert call["out_dir"] == REPO_ROOT / "models" / name.replace("-", "_")
    assert {k: call[k] for k in expected} == expected

    calls.clear()
    result = CliRunner().invoke(app, ["train", name, "--out", str(tmp_path / "m"), "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert calls[0]["out_dir"] == tmp_path / "m" and calls[0]["data_dir"] == tmp_path


def test_text_detector_refuses_an_unknown_backend() -> None:
    result = CliRunner().invoke(app, ["train", "text-detector", "--backend", "nope"])
    assert result.exit_code == 2
    assert "onnx-int8" in result.output


def _copy_model(tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    shutil.copytree(REPO_ROOT / "models" / name, out)
    return out


@pytest.mark.parametrize(
    ("name", "model", "printed"),
    [
        ("synthetic-image", "synthetic_image", lambda out: "\n## evaluation\n" in out),
        ("face-video", "face_video", lambda out: "\n## evaluation\n" in out),
        ("voice-clone", "voice_clone", lambda out: out == ""),
    ],
)
def test_card_only_rerenders_the_committed_card(
    tmp_path: Path, name: str, model: str, printed: Callable[[str], bool]
) -> None:
    out = _copy_model(tmp_path, model)
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(card.replace("<!-- /figures:", "stale\n<!-- /figures:", 1), encoding="utf-8")
    result = CliRunner().invoke(app, ["train", name, "--card-only", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert printed(result.output), result.output
    assert (out / "MODEL_CARD.md").read_text(encoding="utf-8") == card
