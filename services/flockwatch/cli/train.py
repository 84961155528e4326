"""`flockwatch train ...`: rebuild the small models Flockwatch ships and print their figures.

Each command calls one plain function (the training modules are imported only when their command runs: they
pull in torch, scikit-learn and the datasets' readers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flockwatch.config import get_settings

train_app = typer.Typer(help="Train the small models Flockwatch ships.", no_args_is_help=True)

OutDir = Annotated[Path | None, typer.Option("--out", help="Model folder (default: the committed one under models/).")]
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Shared data folder (default: $FLOCKWATCH_DATA_DIR, else ../shared/data)."),
]
CardOnly = Annotated[
    bool,
    typer.Option("--card-only", help="Only re-render the card's figure blocks from the committed JSON files."),
]
ImageSeed = Annotated[
    int,
    typer.Option(
        "--seed", help="Draws only the bootstrap resamples of the AUROC intervals (the fit is deterministic)."
    ),
]
VoiceSeed = Annotated[
    int, typer.Option("--seed", help="Draws the train/calibration/report speaker split (and so the weights).")
]
FaceSeed = Annotated[int, typer.Option("--seed", help="Seeds the self-blending and the CNN's training.")]


def _echo(report: str) -> None:
    if report:
        typer.echo(report)


@train_app.command("cascade-risk")
def train_cascade_risk(
    out_dir: Annotated[Path | None, typer.Option("--out", help="Model folder (default: models/cascade_risk).")] = None,
) -> None:
    """Train the cascade risk score on Twitter15 (false vs true rumours) and Weibo CED (rumour vs non-rumour),
    with the first-hour early-warning score: write model.json (figures in its meta), render the figures into the
    card's blocks (README.md in the same folder) and print them."""
    from flockwatch.config import REPO_ROOT
    from flockwatch.graph.cascade_risk import train, write_card

    folder = out_dir or REPO_ROOT / "models" / "cascade_risk"
    figures = train(get_settings().data_dir, folder)
    write_card(figures, folder / "README.md")
    typer.echo(json.dumps(figures, indent=2))


@train_app.command("text-detector")
def train_text_detector(
    out_dir: Annotated[Path | None, typer.Option("--out", help="Model folder (default models/text_detector).")] = None,
    evaluate: Annotated[
        bool,
        typer.Option("--evaluate/--no-evaluate", help="Also run account-disjoint CV and leave-one-out (slower)."),
    ] = True,
    backend: Annotated[
        str, typer.Option("--backend", help="Embedding backend: onnx-int8, onnx or torch.")
    ] = "onnx-int8",
) -> None:
    """Rebuild models/text_detector from ../shared/data/text (TweepFake, AuthorMimic); print dev figures."""
    import logging

    from flockwatch.text.detector import default_model_dir
    from flockwatch.text.embed import BACKENDS
    from flockwatch.training.text import train_text_detector as train

    if backend not in BACKENDS:
        raise typer.BadParameter(f"one of {', '.join(BACKENDS)}", param_hint="--backend")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    figures = train(
        get_settings().data_dir,
        out_dir or default_model_dir(),
        backend=backend,
        evaluate=evaluate,
        on_progress=lambda msg: typer.echo(msg, err=True),
    )
    typer.echo(json.dumps(figures, indent=2))


@train_app.command("synthetic-image")
def train_synthetic_image(
    out_dir: OutDir = None, seed: ImageSeed = 0, card_only: CardOnly = False, data_dir: DataDir = None
) -> None:
    """Rebuild models/synthetic_image on cnndetection and print its leave-one-generator-out AUROC."""
    from flockwatch.media.synthetic_image import DEFAULT_MODEL_DIR
    from flockwatch.training.image import train_synthetic_image as train

    _echo(
        train(
            data_dir=data_dir or get_settings().data_dir,
            out_dir=out_dir or DEFAULT_MODEL_DIR,
            seed=seed,
            card_only=card_only,
        )
    )


@train_app.command("voice-clone")
def train_voice_clone(
    out_dir: OutDir = None,
    seed: VoiceSeed = 0,
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate/--no-evaluate",
            help="Also run the leave-one-clip-out folds (--no-evaluate: the same weights and threshold, no folds).",
        ),
    ] = True,
    card_only: CardOnly = False,
    data_dir: DataDir = None,
) -> None:
    """Rebuild models/voice_clone on audio/voice_clone and print its held-out figures (threshold on calibration
    speakers, FPR on report speakers, TPR from leave-one-clip-out fold models)."""
    from flockwatch.training.voice import DEFAULT_OUT
    from flockwatch.training.voice import train_voice_clone as train

    _echo(
        train(
            data_dir=data_dir or get_settings().data_dir,
            out_dir=out_dir or DEFAULT_OUT,
            seed=seed,
            evaluate=evaluate,
            card_only=card_only,
        )
    )


@train_app.command("face-video")
def train_face_video(
    out_dir: OutDir = None,
    seed: FaceSeed = 0,
    steps: Annotated[
        int, typer.Option("--steps", help="Training steps of each CNN (the fold models and the shipped one).")
    ] = 360,
    folds: Annotated[
        bool,
        typer.Option(
            "--folds/--no-folds",
            help="Also run the leave-one-identity-out folds (--no-folds: only the shipped model).",
        ),
    ] = True,
    card_only: CardOnly = False,
    data_dir: DataDir = None,
) -> None:
    """Rebuild models/face_video (self-blended real faces) and print its held-out clip figures."""
    from flockwatch.media.face_video import MODEL_DIR
    from flockwatch.training.face import train_face_video as train

    _echo(
        train(
            data_dir=data_dir or get_settings().data_dir,
            out_dir=out_dir or MODEL_DIR,
            seed=seed,
            steps=steps,
            folds=folds,
            card_only=card_only,
        )
    )
