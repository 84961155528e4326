"""The registry of streaming stages: each stage's inputs, and how to build it with its store and models.

Workers (``flockwatch worker <stage>``), Airflow tasks and the demo all build stages here and run the same
objects; the stages themselves are in :mod:`flockwatch.stages`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from flockwatch.config import Settings
from flockwatch.readiness import SETTINGS_BOUND
from flockwatch.stages import alerts, graph, index, media, normalize, rollups, text
from flockwatch.stages.alerts import AlertStage, build_alert_stage
from flockwatch.stages.graph import GraphStage
from flockwatch.stages.index import IndexStage
from flockwatch.stages.media import MediaScoreStage
from flockwatch.stages.normalize import NormalizeStage
from flockwatch.stages.rollups import RollupsStage, TextRollups
from flockwatch.stages.text import TEXT_FPR, TextScoreStage
from flockwatch.store import prepare_store
from flockwatch.topics import Topic

if TYPE_CHECKING:
    from flockwatch.text.detector import TextDetector

# In pipeline order: a stage's inputs are produced by the stages before it.
STAGE_INPUTS: dict[str, tuple[Topic, ...]] = {
    module.STAGE: module.INPUTS for module in (normalize, text, media, index, rollups, alerts, graph)
}
STAGES = tuple(STAGE_INPUTS)
# Stages whose state needs every input partition: one worker each, a second refuses to start
# (flockwatch.adapters.single_writer). The others scale out by adding workers to their consumer group.
SINGLE_WRITER_STAGES: tuple[str, ...] = (text.STAGE, alerts.STAGE, graph.STAGE)

AnyStage = NormalizeStage | TextScoreStage | MediaScoreStage | IndexStage | RollupsStage | AlertStage | GraphStage


def narrative_state_dir(settings: Settings) -> Path:
    return settings.state_dir / "narratives" / settings.topic_prefix


def text_detector(settings: Settings) -> TextDetector:
    """The shipped text detector, labelling at ``settings.text_thresholds`` when those are set."""
    from flockwatch.text.detector import shared_detector
    from flockwatch.text.thresholds import PopulationThresholds

    detector = shared_detector()
    if settings.text_thresholds is None:
        return detector
    detector = detector.with_thresholds(PopulationThresholds.load(settings.text_thresholds))
    try:
        detector.threshold(TEXT_FPR)  # checked now: a missing one would dead-letter every post later
    except ValueError as exc:
        raise ValueError(f"{settings.text_thresholds}: {exc}; the text stage labels at {TEXT_FPR:g}") from exc
    return detector


def post_threshold(settings: Settings, fpr: float = TEXT_FPR) -> float:
    """The post-level threshold the text stage labels at (the account rollups count posts above it)."""
    from flockwatch.text.detector import stored_threshold

    if settings.text_thresholds is None:
        return stored_threshold(fpr)  # without loading the model
    return text_detector(settings).threshold(fpr)


def build_stage(name: str, settings: Settings, wait_s: float | None = SETTINGS_BOUND) -> AnyStage:
    """The stage ``name``, its store prepared once the store answers (``wait_s``; None waits without bound)."""
    if name == normalize.STAGE:
        return NormalizeStage()
    if name == text.STAGE:
        from flockwatch.text.narratives import NarrativeConfig, NarrativeIndex

        folder = narrative_state_dir(settings)
        forgetting = NarrativeConfig(generation_forms=settings.narrative_generation_forms)
        narratives = NarrativeIndex.load(folder, forgetting, track_stats=False)
        return TextScoreStage(text_detector(settings), narratives, folder)
    if name == media.STAGE:
        from flockwatch.adapters.media_scorer import build_scorer

        prepare_store(settings, wait_s=wait_s)
        return MediaScoreStage(build_scorer(settings))
    if name == index.STAGE:
        return IndexStage(prepare_store(settings, text=True, wait_s=wait_s))
    if name == rollups.STAGE:
        return RollupsStage(TextRollups(prepare_store(settings, text=True, wait_s=wait_s), post_threshold(settings)))
    if name == alerts.STAGE:
        from flockwatch.adapters.alert_sinks import build_sinks
        from flockwatch.alerts.rules import load_config

        store = prepare_store(settings, wait_s=wait_s)
        config = load_config()
        return build_alert_stage(
            store,
            config,
            build_sinks(config.sinks),
            restore=store.alerts.recent(datetime.now(UTC) - timedelta(days=7)),
        )
    if name == graph.STAGE:
        from flockwatch.adapters.graph_warm import build_graph_stage_for

        store = prepare_store(settings, graph=True, wait_s=wait_s)
        return build_graph_stage_for(store, settings, group_id(settings, name))
    raise ValueError(f"unknown stage {name!r}; known: {', '.join(STAGES)}")


def group_id(settings: Settings, name: str) -> str:
    return f"{settings.topic_prefix}.{name}"


def run_until_caught_up(name: str, settings: Settings, max_seconds: float = 300.0) -> dict[str, int]:
    """One micro-batch run of a stage (what an Airflow task does): consume until no lag, then stop."""
    from flockwatch.adapters.kafka_bus import ensure_topics, run_stage

    ensure_topics(settings)
    report = run_stage(
        settings, build_stage(name, settings), group_id(settings, name), until_caught_up=True, max_seconds=max_seconds
    )
    return {**report.counts, "batches": report.batches, "retries": report.retries}
