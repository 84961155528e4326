"""The streaming stages, each a consumer group. Workers and Airflow tasks run the same objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from flockwatch.alerts.stage import INPUTS as ALERT_INPUTS
from flockwatch.alerts.stage import STAGE as ALERT_STAGE
from flockwatch.alerts.stage import AlertStage, build_alert_stage, input_partitions
from flockwatch.config import Settings
from flockwatch.graph_stage import INPUTS as GRAPH_INPUTS
from flockwatch.graph_stage import STAGE as GRAPH_STAGE
from flockwatch.graph_stage import GraphStage
from flockwatch.graph_warm import build_graph_stage_for
from flockwatch.media.stage import STAGE as MEDIA_STAGE
from flockwatch.media.stage import record_cost_s as media_record_cost_s
from flockwatch.media.stage import score_batch as score_media_batch
from flockwatch.pipeline.index import STAGE as INDEX_STAGE
from flockwatch.pipeline.index import plan_index
from flockwatch.pipeline.messages import InMessage, StageOutcome
from flockwatch.pipeline.normalize import STAGE as NORMALIZE_STAGE
from flockwatch.pipeline.normalize import normalize_batch
from flockwatch.pipeline.rollups import INPUTS as ROLLUPS_INPUTS
from flockwatch.pipeline.rollups import STAGE as ROLLUPS_STAGE
from flockwatch.pipeline.rollups import RollupsStage, TextRollups
from flockwatch.readiness import SETTINGS_BOUND
from flockwatch.store import BulkResult, Upsert, prepare_store
from flockwatch.text.stage import STAGE as TEXT_STAGE
from flockwatch.text.stage import score_batch
from flockwatch.topics import Stage

if TYPE_CHECKING:
    from flockwatch.media.score import MediaScorer
    from flockwatch.text.detector import TextDetector
    from flockwatch.text.narratives import NarrativeIndex

# In pipeline order: a stage's inputs are produced by the stages before it.
STAGE_INPUTS: dict[str, tuple[Stage, ...]] = {
    NORMALIZE_STAGE: (Stage.raw,),
    TEXT_STAGE: (Stage.normalized,),
    MEDIA_STAGE: (Stage.normalized,),
    INDEX_STAGE: (Stage.normalized, Stage.text_scores, Stage.media_scores),
    ROLLUPS_STAGE: ROLLUPS_INPUTS,
    ALERT_STAGE: ALERT_INPUTS,
    GRAPH_STAGE: GRAPH_INPUTS,
}
STAGES = tuple(STAGE_INPUTS)


@dataclass
class NormalizeStage:
    name: str = NORMALIZE_STAGE
    inputs: tuple[Stage, ...] = STAGE_INPUTS[NORMALIZE_STAGE]

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        return normalize_batch(messages)


@dataclass
class TextScoreStage:
    """Normalised posts → text scores (machine-likeness with evidence) and narrative ids; the model is
    loaded once per process.

    **One text worker.** The narrative index is state shared by every partition (a copy on one partition
    must find its original on another) and lives in ``state_dir`` (``<state_dir>/narratives/<topic prefix>``):
    run a single ``flockwatch worker text``, and never at the same time as the ``index_stream`` DAG's text
    task. The state is committed (journal + fsync) at the end of ``process``, before the loop emits the
    scores: every narrative id that anyone saw is durable, so a batch redelivered after a crash gets the same
    ids (see :mod:`flockwatch.text.narratives`)."""

    detector: TextDetector
    narratives: NarrativeIndex | None = None
    state_dir: Path | None = None
    name: str = TEXT_STAGE
    inputs: tuple[Stage, ...] = STAGE_INPUTS[TEXT_STAGE]

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        outcome = score_batch(messages, self.detector, narratives=self.narratives)
        if self.narratives is not None and self.state_dir is not None:
            self.narratives.commit(self.state_dir)
        return outcome


def narrative_state_dir(settings: Settings) -> Path:
    return settings.state_dir / "narratives" / settings.topic_prefix


@dataclass
class MediaScoreStage:
    """Normalised posts → one media score per attached item (fetched safely, scored with evidence)."""

    scorer: MediaScorer
    name: str = MEDIA_STAGE
    inputs: tuple[Stage, ...] = STAGE_INPUTS[MEDIA_STAGE]

    @property
    def record_cost_s(self) -> float | None:
        """Worst-case seconds per post: the loop sizes batches from it so none outlasts the poll interval."""
        return media_record_cost_s(self.scorer)

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        return score_media_batch(messages, self.scorer)


class BulkWriter(Protocol):
    def bulk_upsert(self, upserts: Sequence[Upsert]) -> BulkResult: ...


@dataclass
class IndexStage:
    """Moves posts and scores into the store; raises StoreUnavailable so the loop retries.

    Posts and scores only: the narrative and account documents are the ``rollups`` stage's, off this path."""

    store: BulkWriter
    name: str = INDEX_STAGE
    inputs: tuple[Stage, ...] = STAGE_INPUTS[INDEX_STAGE]

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        plan = plan_index(messages)
        result = self.store.bulk_upsert(plan.upserts)
        outcome = plan.outcome
        outcome.counts["indexed"] += result.written
        rejected = dict(result.rejected)
        if rejected:
            for upsert, origin in zip(plan.upserts, plan.origins, strict=True):
                if upsert.doc_id in rejected:
                    outcome.dead_letter(self.name, origin, f"store rejected the document: {rejected[upsert.doc_id]}")
        return outcome


def build_stage(
    name: str, settings: Settings, wait_s: float | None = SETTINGS_BOUND
) -> NormalizeStage | TextScoreStage | MediaScoreStage | IndexStage | RollupsStage | AlertStage | GraphStage:
    """The stage ``name``, its store prepared once the store answers (``wait_s``; None waits without bound)."""
    if name == "normalize":
        return NormalizeStage()
    if name == TEXT_STAGE:
        from flockwatch.text.detector import shared_detector
        from flockwatch.text.narratives import NarrativeIndex

        folder = narrative_state_dir(settings)
        return TextScoreStage(shared_detector(), NarrativeIndex.load(folder, track_stats=False), folder)
    if name == MEDIA_STAGE:
        from flockwatch.media.build import build_scorer

        prepare_store(settings, wait_s=wait_s)
        return MediaScoreStage(build_scorer(settings))
    if name == "index":
        return IndexStage(prepare_store(settings, text=True, wait_s=wait_s))
    if name == ROLLUPS_STAGE:
        from flockwatch.text.detector import stored_threshold

        return RollupsStage(TextRollups(prepare_store(settings, text=True, wait_s=wait_s), stored_threshold()))
    if name == ALERT_STAGE:
        store = prepare_store(settings, wait_s=wait_s)
        return build_alert_stage(
            store,
            restore=store.recent_alerts(datetime.now(UTC) - timedelta(days=7)),
            input_partitions=input_partitions(settings.topic_prefix, settings.topic_partitions),
        )
    if name == GRAPH_STAGE:
        store = prepare_store(settings, graph=True, wait_s=wait_s)
        return build_graph_stage_for(store, settings, group_id(settings, name))
    raise ValueError(f"unknown stage {name!r}; known: {', '.join(STAGES)}")


def group_id(settings: Settings, name: str) -> str:
    return f"{settings.topic_prefix}.{name}"


def run_until_caught_up(name: str, settings: Settings, max_seconds: float = 300.0) -> dict[str, int]:
    """One micro-batch run of a stage (what an Airflow task does): consume until no lag, then stop."""
    from flockwatch.kafka_bus import ensure_topics, run_stage

    ensure_topics(settings)
    report = run_stage(
        settings, build_stage(name, settings), group_id(settings, name), until_caught_up=True, max_seconds=max_seconds
    )
    return {**report.counts, "batches": report.batches, "retries": report.retries}
