"""InferenceCollector and streams: chunk counts, and TTFT bookkeeping of failed streams."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collectors.inference import InferenceCollector
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.events import FirstTokenReceived, InferenceCompleted, InferenceFailed
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import DistributionSeries

MODEL, VERSION = "llama", "v1"


class Env:
    """A fresh bus and registry with an InferenceCollector."""

    def __init__(self, registry: AggregatingRegistry) -> None:
        self.bus = EventBus()
        self.registry = registry
        self.collector = InferenceCollector()
        self.metrics = Metrics(bus=self.bus, registry=registry).collect(self.collector)

    def chunks(self, version: str = VERSION) -> DistributionSeries | None:
        series = self.registry.snapshot().get(
            names.STREAM_CHUNKS, {names.MODEL_NAME: MODEL, names.VERSION: version}
        )
        assert series is None or isinstance(series, DistributionSeries)
        return series


@pytest.fixture
def env(registry: AggregatingRegistry) -> Iterator[Env]:
    env = Env(registry)
    yield env
    env.metrics.close()


def completed(version: str = VERSION, **fields: object) -> InferenceCompleted:
    return InferenceCompleted(
        model_name=MODEL,
        version=version,
        duration_ms=10.0,
        **fields,  # type: ignore[arg-type]
    )


def test_stream_chunks_are_a_histogram_per_version(env: Env) -> None:
    for event in (
        completed(stream_chunks=3),
        completed(stream_chunks=0),
        completed(stream_chunks=9),
        completed(version="v2", stream_chunks=5),
        completed(),  # not a stream: not observed
    ):
        env.bus.emit(event)

    v1, v2 = env.chunks(), env.chunks("v2")
    assert v1 is not None and (v1.count, v1.total) == (3, 12.0)
    assert (v1.all_time.minimum, v1.all_time.maximum) == (0.0, 9.0)
    assert v2 is not None and (v2.count, v2.total) == (1, 5.0)


def test_requests_without_chunks_leave_no_series(env: Env) -> None:
    env.bus.emit(completed(output_tokens=4))
    assert env.chunks() is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "'stream_chunks' must be an int >= 0 or None: -1"),
        (True, "'stream_chunks' must be an int >= 0 or None: True"),
        (2.0, "'stream_chunks' must be an int >= 0 or None: 2.0"),
        ("3", "'stream_chunks' must be an int >= 0 or None: '3'"),
    ],
)
def test_stream_chunks_must_be_a_count(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        completed(stream_chunks=value)
    assert str(caught.value) == message


def test_a_failed_stream_forgets_its_first_token(env: Env) -> None:
    # FirstTokenReceived is remembered so that the Completed of the same request does not
    # count TTFT again; a stream that fails never completes, so Failed must drop it.
    env.bus.emit(
        FirstTokenReceived(
            model_name=MODEL, version=VERSION, request_id="r1", time_to_first_token_ms=5.0
        )
    )
    assert list(env.collector._ttft_seen) == ["r1"]
    env.bus.emit(
        InferenceFailed(
            model_name=MODEL, version=VERSION, request_id="r1", duration_ms=8.0, error_type="E"
        )
    )
    assert list(env.collector._ttft_seen) == []
    ttft = env.registry.snapshot().get(
        names.TIME_TO_FIRST_TOKEN, {names.MODEL_NAME: MODEL, names.VERSION: VERSION}
    )
    assert isinstance(ttft, DistributionSeries) and ttft.count == 1
