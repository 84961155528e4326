"""The streaming stages, each a consumer group. Workers and Airflow tasks run the same objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from flockwatch.alerts.stage import INPUTS as ALERT_INPUTS
from flockwatch.alerts.stage import STAGE as ALERT_STAGE
from flockwatch.alerts.stage import AlertStage, build_alert_stage, input_partitions
from flockwatch.config import Settings
from flockwatch.graph_stage import INPUTS as GRAPH_INPUTS
from flockwatch.graph_stage import STAGE as GRAPH_STAGE
from flockwatch.graph_stage import GraphStage, build_graph_stage
from flockwatch.pipeline.index import STAGE as INDEX_STAGE
from flockwatch.pipeline.index import plan_index
from flockwatch.pipeline.messages import InMessage, StageOutcome
from flockwatch.pipeline.normalize import STAGE as NORMALIZE_STAGE
from flockwatch.pipeline.normalize import normalize_batch
from flockwatch.store import BulkResult, OpenSearchStore, Upsert
from flockwatch.text.stage import STAGE as TEXT_STAGE
from flockwatch.text.stage import score_batch
from flockwatch.topics import Stage

if TYPE_CHECKING:
    from flockwatch.text.detector import TextDetector

# In pipeline order: a stage's inputs are produced by the stages before it.
STAGE_INPUTS: dict[str, tuple[Stage, ...]] = {
    NORMALIZE_STAGE: (Stage.raw,),
    TEXT_STAGE: (Stage.normalized,),
    INDEX_STAGE: (Stage.normalized, Stage.text_scores, Stage.media_scores),
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
    """Normalised posts → text scores (machine-likeness with evidence); the model is loaded once per process."""

    detector: TextDetector
    name: str = TEXT_STAGE
    inputs: tuple[Stage, ...] = STAGE_INPUTS[TEXT_STAGE]

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        return score_batch(messages, self.detector)


class BulkWriter(Protocol):
    def bulk_upsert(self, upserts: Sequence[Upsert]) -> BulkResult: ...


@dataclass
class IndexStage:
    """Moves posts and scores into the store; raises StoreUnavailable so the loop retries."""

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
    name: str, settings: Settings
) -> NormalizeStage | TextScoreStage | IndexStage | AlertStage | GraphStage:
    if name == "normalize":
        return NormalizeStage()
    if name == TEXT_STAGE:
        from flockwatch.text.detector import shared_detector

        return TextScoreStage(shared_detector())
    if name == "index":
        store = OpenSearchStore(settings)
        store.ensure_schema()
        return IndexStage(store)
    if name == ALERT_STAGE:
        store = OpenSearchStore(settings)
        store.ensure_schema()
        return build_alert_stage(
            store,
            restore=store.recent_alerts(datetime.now(UTC) - timedelta(days=7)),
            input_partitions=input_partitions(settings.topic_prefix, settings.topic_partitions),
        )
    if name == GRAPH_STAGE:
        store = OpenSearchStore(settings)
        store.ensure_schema()
        store.ensure_graph_mappings()
        return build_graph_stage(store)
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
