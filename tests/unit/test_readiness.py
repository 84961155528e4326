"""Waiting for services that are still starting: bounded retries, backoff, one clear line, other errors at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kafka.errors import CoordinatorNotAvailableError, KafkaTimeoutError, TopicAuthorizationFailedError

from flockwatch.adapters.kafka_bus import kafka_transient
from flockwatch.cli.app import service_error_line
from flockwatch.config import Settings
from flockwatch.readiness import Backoff, ServiceNotReady, retry_until_ready
from flockwatch.store.documents import StoreRequestError, StoreUnavailable
from flockwatch.store.engines.rest import RequestTimedOut, store_transient


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s

    def __call__(self) -> float:
        return self.now


def always(exc: BaseException) -> Callable[[], object]:
    def call() -> object:
        raise exc

    return call


def test_gives_up_after_the_bound_with_one_line_naming_service_cause_and_hint() -> None:
    clock = FakeClock()
    with pytest.raises(ServiceNotReady) as err:
        retry_until_ready(
            "Kafka at 127.0.0.1:9092",
            always(CoordinatorNotAvailableError("FindCoordinatorResponse error for GROUP/x")),
            is_transient=kafka_transient,
            wait_s=30,
            hint="Check `flockwatch status`; its log is /x/kafka.log",
            sleep=clock.sleep,
            clock=clock,
        )
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith("Kafka at 127.0.0.1:9092 is not ready: CoordinatorNotAvailableError")
    assert line.endswith("Check `flockwatch status`; its log is /x/kafka.log")
    # Backoff doubles up to its cap, and the total wait stays within the bound.
    assert clock.sleeps[:5] == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert max(clock.sleeps) == Backoff().max_s
    assert clock.now <= 30


def test_retries_until_the_service_answers() -> None:
    clock = FakeClock()
    answers = iter(
        [
            KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:9092"),
            StoreUnavailable("OpenSearch at http://127.0.0.1:9200 unreachable: refused"),
            "ready",
        ]
    )

    def call() -> object:
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    got = retry_until_ready(
        "svc",
        call,
        is_transient=lambda e: kafka_transient(e) or store_transient(e),
        wait_s=None,
        hint="",
        sleep=clock.sleep,
        clock=clock,
    )
    assert got == "ready" and len(clock.sleeps) == 2


def test_a_non_transient_error_propagates_at_once() -> None:
    clock = FakeClock()
    with pytest.raises(TopicAuthorizationFailedError):
        retry_until_ready(
            "Kafka",
            always(TopicAuthorizationFailedError()),
            is_transient=kafka_transient,
            wait_s=30,
            hint="",
            sleep=clock.sleep,
            clock=clock,
        )
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (StoreUnavailable("down"), True),
        (RequestTimedOut("no answer in 5 s"), True),
        (StoreRequestError(400, "mapper_parsing_exception"), False),
        (ValueError("bug"), False),
    ],
)
def test_store_transient(exc: BaseException, transient: bool) -> None:
    assert store_transient(exc) is transient


def test_cli_turns_service_errors_into_one_line_and_leaves_bugs_alone() -> None:
    settings = Settings(kafka_port=19999, store_port=19998)
    kafka_line = service_error_line(KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:9092"), settings)
    assert kafka_line is not None and kafka_line.startswith("Kafka at 127.0.0.1:19999 is not ready: KafkaTimeoutError")
    assert "flockwatch status" in kafka_line and "kafka.log" in kafka_line
    store_line = service_error_line(StoreUnavailable("refused"), settings)
    assert store_line is not None and store_line.startswith("OpenSearch at http://127.0.0.1:19998 is not ready")
    es = Settings(store_engine="elasticsearch", store_port=19997)
    es_line = service_error_line(StoreUnavailable("refused"), es)
    assert es_line is not None and es_line.startswith("Elasticsearch at http://127.0.0.1:19997 is not ready")
    assert "flockwatch up elasticsearch" in es_line
    assert service_error_line(ValueError("a bug"), settings) is None
    assert service_error_line(StoreRequestError(400, "bad query"), settings) is None
