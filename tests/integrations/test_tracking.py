"""track_inference and inference_span: the exact events each kind of call emits."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import time
import traceback
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

import pytest

from collectors import InferenceCollector
from integrations.tracking import InferenceSpan, current_span, inference_span, track_inference
from metrics_core import names
from metrics_core.bus import EventBus, default_bus, reset_default_bus
from metrics_core.events import (
    Event,
    FirstTokenReceived,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
)
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries, GaugeSeries

MV = {names.MODEL_NAME: "llm", names.VERSION: "v1"}


class Captured:
    """Every event of a fresh bus, in order."""

    def __init__(self) -> None:
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(Event, self.events.append)

    def kinds(self) -> list[str]:
        return [type(event).__name__ for event in self.events]

    def last(self) -> Event:
        return self.events[-1]


@pytest.fixture
def captured() -> Captured:
    return Captured()


@pytest.fixture
def metrics(registry: AggregatingRegistry) -> Iterator[Metrics]:
    metrics = Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())
    yield metrics
    metrics.close()


class ModelError(Exception):
    """A failure of the model under test."""


def assert_one_request(events: list[Event], *kinds: type[Event]) -> None:
    """The events are ``kinds`` in order, of llm:v1, all with one request id."""
    assert [type(event) for event in events] == list(kinds)
    ids = {getattr(event, "request_id", None) for event in events}
    assert len(ids) == 1 and None not in ids
    for event in events:
        assert (getattr(event, "model_name", None), getattr(event, "version", None)) == (
            "llm",
            "v1",
        )


# -- the four kinds of functions ----------------------------------------------------------


def test_sync_function_emits_started_then_completed(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    def predict(text: str, *, upper: bool = False) -> str:
        """Predict a label."""
        span = current_span()
        assert span is not None and len(captured.events) == 1
        span.output_tokens = 7
        return text.upper() if upper else text

    assert predict("spam", upper=True) == "SPAM"
    assert_one_request(captured.events, InferenceStarted, InferenceCompleted)
    done = captured.last()
    assert isinstance(done, InferenceCompleted)
    assert done.output_tokens == 7 and done.duration_ms >= 0.0
    assert (done.stream_chunks, done.time_to_first_token_ms) == (None, None)
    assert predict.__name__ == "predict" and predict.__doc__ == "Predict a label."
    assert str(inspect.signature(predict)) == "(text: 'str', *, upper: 'bool' = False) -> 'str'"
    assert current_span() is None


def test_async_function_emits_started_then_completed(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    async def predict(text: str) -> str:
        await asyncio.sleep(0)
        span = current_span()
        assert span is not None
        span.confidence = 0.75
        return text

    assert inspect.iscoroutinefunction(predict)
    assert asyncio.run(predict("x")) == "x"
    assert_one_request(captured.events, InferenceStarted, InferenceCompleted)
    done = captured.last()
    assert isinstance(done, InferenceCompleted) and done.confidence == 0.75


def test_sync_generator_reports_first_token_while_streaming(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    def stream(n: int) -> Iterator[str]:
        time.sleep(0.01)  # prefill before the first token
        for i in range(n):
            yield f"t{i}"
            time.sleep(0.005)

    assert inspect.isgeneratorfunction(stream)
    tokens = stream(3)
    assert captured.events == []  # calling a generator function runs nothing
    assert next(tokens) == "t0"
    assert captured.kinds() == ["InferenceStarted", "FirstTokenReceived"]
    assert list(tokens) == ["t1", "t2"]
    assert_one_request(captured.events, InferenceStarted, FirstTokenReceived, InferenceCompleted)
    first, done = captured.events[1], captured.events[2]
    assert isinstance(first, FirstTokenReceived) and isinstance(done, InferenceCompleted)
    assert done.stream_chunks == 3
    assert done.time_to_first_token_ms == first.time_to_first_token_ms
    assert 0.0 < first.time_to_first_token_ms < done.duration_ms


def test_async_generator_reports_first_token_while_streaming(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    async def stream(n: int) -> AsyncIterator[str]:
        await asyncio.sleep(0.01)
        for i in range(n):
            yield f"t{i}"
            await asyncio.sleep(0.005)

    async def consume() -> list[str]:
        tokens = stream(4)
        got = [await anext(tokens)]
        assert captured.kinds() == ["InferenceStarted", "FirstTokenReceived"]
        got += [token async for token in tokens]
        return got

    assert inspect.isasyncgenfunction(stream)
    assert asyncio.run(consume()) == ["t0", "t1", "t2", "t3"]
    assert_one_request(captured.events, InferenceStarted, FirstTokenReceived, InferenceCompleted)
    first, done = captured.events[1], captured.events[2]
    assert isinstance(first, FirstTokenReceived) and isinstance(done, InferenceCompleted)
    assert done.stream_chunks == 4
    assert first.time_to_first_token_ms == done.time_to_first_token_ms
    assert 0.0 < first.time_to_first_token_ms < done.duration_ms


def test_an_empty_stream_completes_with_zero_chunks_and_no_first_token(
    captured: Captured,
) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    def stream() -> Iterator[str]:
        yield from ()

    assert list(stream()) == []
    assert_one_request(captured.events, InferenceStarted, InferenceCompleted)
    done = captured.last()
    assert isinstance(done, InferenceCompleted)
    assert (done.stream_chunks, done.time_to_first_token_ms) == (0, None)


def test_generator_send_throw_and_return_value_pass_through(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    def echo() -> Generator[str, str, int]:
        received = yield "ready"
        try:
            yield f"got {received}"
        except KeyError:
            yield "handled"
        return 42

    def drive() -> Generator[str, None, int]:
        stream = echo()
        assert next(stream) == "ready"
        assert stream.send("ping") == "got ping"
        assert stream.throw(KeyError("k")) == "handled"
        result = yield from stream
        return result

    outer = drive()
    assert list(outer) == []
    done = captured.last()
    assert isinstance(done, InferenceCompleted) and done.stream_chunks == 3
    assert_one_request(captured.events, InferenceStarted, FirstTokenReceived, InferenceCompleted)


def test_generator_return_value_reaches_yield_from(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    def answer() -> Generator[str, None, int]:
        yield "a"
        return 42

    def outer() -> Generator[str, None, int]:
        return (yield from answer())

    stream = outer()
    assert next(stream) == "a"
    with pytest.raises(StopIteration) as stop:
        next(stream)
    assert stop.value.value == 42


def test_decorated_methods_bind_self(captured: Captured) -> None:
    class Model:
        def __init__(self) -> None:
            self.calls = 0

        @track_inference("llm", "v1", bus=captured.bus)
        def predict(self, x: int) -> int:
            self.calls += 1
            return x * 2

    model = Model()
    assert model.predict(4) == 8 and model.calls == 1
    assert captured.kinds() == ["InferenceStarted", "InferenceCompleted"]


# -- failures -----------------------------------------------------------------------------


def test_sync_exception_is_reraised_unchanged_and_recorded(captured: Captured) -> None:
    raised: list[BaseException] = []

    @track_inference("llm", "v1", bus=captured.bus)
    def predict() -> None:
        error = ModelError("out of memory")
        raised.append(error)
        raise error

    with pytest.raises(ModelError) as caught:
        predict()
    assert caught.value is raised[0]
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert frames[-1] == "predict" and "wrapper" in frames
    assert_one_request(captured.events, InferenceStarted, InferenceFailed)
    failed = captured.last()
    assert isinstance(failed, InferenceFailed) and failed.error_type == "ModelError"
    assert failed.duration_ms >= 0.0


def test_async_exception_is_reraised_unchanged_and_recorded(captured: Captured) -> None:
    error = ModelError("bad input")

    @track_inference("llm", "v1", bus=captured.bus)
    async def predict() -> None:
        await asyncio.sleep(0)
        raise error

    with pytest.raises(ModelError) as caught:
        asyncio.run(predict())
    assert caught.value is error
    failed = captured.last()
    assert isinstance(failed, InferenceFailed) and failed.error_type == "ModelError"


def test_stream_failing_midway_records_the_error_after_the_first_token(
    captured: Captured,
) -> None:
    error = ModelError("connection reset")

    @track_inference("llm", "v1", bus=captured.bus)
    def stream() -> Iterator[str]:
        yield "a"
        raise error

    tokens = stream()
    assert next(tokens) == "a"
    with pytest.raises(ModelError) as caught:
        next(tokens)
    assert caught.value is error
    assert_one_request(captured.events, InferenceStarted, FirstTokenReceived, InferenceFailed)
    failed = captured.last()
    assert isinstance(failed, InferenceFailed) and failed.error_type == "ModelError"


def test_async_stream_failing_before_any_token(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    async def stream() -> AsyncIterator[str]:
        raise ModelError("no capacity")
        yield "never"  # pragma: no cover - makes this an async generator

    async def consume() -> list[str]:
        return [token async for token in stream()]

    with pytest.raises(ModelError):
        asyncio.run(consume())
    assert_one_request(captured.events, InferenceStarted, InferenceFailed)


def test_base_exceptions_are_recorded_by_class_name_and_reraised(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    failed = captured.last()
    assert isinstance(failed, InferenceFailed) and failed.error_type == "KeyboardInterrupt"


def test_cancelled_task_is_recorded_as_cancelled_error(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    async def predict(gate: asyncio.Event) -> str:
        await gate.wait()
        return "never"

    async def main() -> None:
        task = asyncio.create_task(predict(asyncio.Event()))
        await asyncio.sleep(0)
        assert captured.kinds() == ["InferenceStarted"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert_one_request(captured.events, InferenceStarted, InferenceFailed)
    failed = captured.last()
    assert isinstance(failed, InferenceFailed) and failed.error_type == "CancelledError"


def test_cancelled_async_stream_mid_chunk_is_recorded_as_cancelled_error(
    captured: Captured,
) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    async def stream(gate: asyncio.Event) -> AsyncIterator[str]:
        yield "a"
        await gate.wait()
        yield "b"  # pragma: no cover - the gate never opens

    async def consume(tokens: AsyncIterator[str]) -> list[str]:
        return [token async for token in tokens]

    async def main() -> None:
        task = asyncio.create_task(consume(stream(asyncio.Event())))
        while len(captured.events) < 2:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert_one_request(captured.events, InferenceStarted, FirstTokenReceived, InferenceFailed)
    failed = captured.last()
    assert isinstance(failed, InferenceFailed) and failed.error_type == "CancelledError"


# -- consumers that stop early ------------------------------------------------------------


def test_break_closes_the_stream_and_records_it_completed(captured: Captured) -> None:
    cleaned_up: list[InferenceSpan | None] = []

    @track_inference("llm", "v1", bus=captured.bus)
    def stream() -> Generator[int, None, None]:
        try:
            yield from range(100)
        finally:
            cleaned_up.append(current_span())

    tokens = stream()
    for token in tokens:
        if token == 1:
            break
    assert captured.kinds() == ["InferenceStarted", "FirstTokenReceived"]
    tokens.close()  # what garbage collection would do, now
    assert len(cleaned_up) == 1 and cleaned_up[0] is not None  # the span, in its cleanup
    assert_one_request(captured.events, InferenceStarted, FirstTokenReceived, InferenceCompleted)
    done = captured.last()
    assert isinstance(done, InferenceCompleted) and done.stream_chunks == 2


def test_aclose_records_the_async_stream_completed(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    async def stream() -> AsyncGenerator[int, None]:
        for i in range(100):
            yield i
            await asyncio.sleep(0)

    async def main() -> None:
        tokens = stream()
        assert [await anext(tokens), await anext(tokens), await anext(tokens)] == [0, 1, 2]
        await tokens.aclose()

    asyncio.run(main())
    assert_one_request(captured.events, InferenceStarted, FirstTokenReceived, InferenceCompleted)
    done = captured.last()
    assert isinstance(done, InferenceCompleted) and done.stream_chunks == 3


def test_a_stream_never_iterated_records_nothing(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    def stream() -> Generator[int, None, None]:
        yield 1  # pragma: no cover

    stream().close()
    assert captured.events == []


def test_current_span_is_not_visible_to_the_consumer_between_chunks(
    captured: Captured,
) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    def stream() -> Iterator[InferenceSpan | None]:
        yield current_span()
        yield current_span()

    seen = []
    for inner in stream():
        seen.append(inner)
        assert current_span() is None
    assert seen[0] is not None and seen[0] is seen[1]
    done = captured.last()
    assert isinstance(done, InferenceCompleted)
    assert seen[0].chunks == 2 and seen[0].request_id == done.request_id


# -- inference_span -----------------------------------------------------------------------


def test_span_as_sync_context_manager_puts_its_values_on_completed(captured: Captured) -> None:
    with inference_span("llm", "v1", bus=captured.bus, request_id="req-1") as span:
        assert current_span() is span
        assert captured.kinds() == ["InferenceStarted"]
        span.input_tokens = 12
        span.output_tokens = 30
        span.cached_tokens = 4
        span.cost_usd = 0.25
        span.confidence = 1.0
        span.predicted_class = "positive"
        span.batch_size = 8
        span.chunk()
        span.chunk()
    assert current_span() is None
    assert captured.kinds() == ["InferenceStarted", "FirstTokenReceived", "InferenceCompleted"]
    done = captured.last()
    assert isinstance(done, InferenceCompleted)
    assert (done.request_id, done.input_tokens, done.output_tokens, done.cached_tokens) == (
        "req-1",
        12,
        30,
        4,
    )
    assert (done.cost_usd, done.confidence, done.predicted_class, done.batch_size) == (
        0.25,
        1.0,
        "positive",
        8,
    )
    assert done.stream_chunks == 2 and done.time_to_first_token_ms == span.time_to_first_token_ms


def test_span_as_async_context_manager(captured: Captured) -> None:
    async def main() -> None:
        async with inference_span("llm", "v1", bus=captured.bus) as span:
            await asyncio.sleep(0)
            assert current_span() is span
            span.output_tokens = 5

    asyncio.run(main())
    assert_one_request(captured.events, InferenceStarted, InferenceCompleted)
    done = captured.last()
    assert isinstance(done, InferenceCompleted)
    assert (done.output_tokens, done.stream_chunks) == (5, None)


def test_span_records_the_exception_that_leaves_the_block(captured: Captured) -> None:
    error = ModelError("timeout")

    async def main() -> None:
        async with inference_span("llm", "v1", bus=captured.bus):
            raise error

    with pytest.raises(ModelError) as caught:
        asyncio.run(main())
    assert caught.value is error
    assert_one_request(captured.events, InferenceStarted, InferenceFailed)
    failed = captured.last()
    assert isinstance(failed, InferenceFailed) and failed.error_type == "ModelError"


def test_nested_spans_restore_the_outer_one(captured: Captured) -> None:
    with inference_span("llm", "v1", bus=captured.bus) as outer:
        with inference_span("llm", "v1", bus=captured.bus) as inner:
            assert current_span() is inner
        assert current_span() is outer
    assert outer.request_id != inner.request_id
    assert current_span() is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_tokens", -1, "'input_tokens' must be an int >= 0 or None: -1"),
        ("output_tokens", 2.5, "'output_tokens' must be an int >= 0 or None: 2.5"),
        ("cached_tokens", True, "'cached_tokens' must be an int >= 0 or None: True"),
        ("cost_usd", -0.5, "'cost_usd' must be >= 0: -0.5"),
        ("cost_usd", float("inf"), "'cost_usd' must be finite: inf"),
        ("cost_usd", "1", "'cost_usd' must be a number: '1'"),
        ("confidence", 1.5, "'confidence' must be within [0, 1]: 1.5"),
        ("confidence", float("nan"), "'confidence' must be finite: nan"),
        ("cost_usd", 10**400, "'cost_usd' must be within +-1e+100: <int of 1329 bits>"),
        ("confidence", 10**400, "'confidence' must be within +-1e+100: <int of 1329 bits>"),
        ("output_tokens", 10**400, "'output_tokens' must be <= 1e+100: <int of 1329 bits>"),
        ("predicted_class", 3, "'predicted_class' must be a string or None: 3"),
        ("batch_size", 0, "'batch_size' must be an int >= 1: 0"),
    ],
)
def test_invalid_values_raise_when_set_and_the_request_is_still_recorded(
    captured: Captured, field: str, value: object, message: str
) -> None:
    with inference_span("llm", "v1", bus=captured.bus) as span:
        with pytest.raises(ValueError) as caught:
            setattr(span, field, value)
        assert str(caught.value) == message
        span.output_tokens = 3
    done = captured.last()
    assert isinstance(done, InferenceCompleted) and done.output_tokens == 3
    assert captured.kinds() == ["InferenceStarted", "InferenceCompleted"]


def test_an_invalid_value_left_uncaught_fails_the_request(captured: Captured) -> None:
    message = "'output_tokens' must be an int >= 0 or None: -2"
    tracked = inference_span("llm", "v1", bus=captured.bus)
    with pytest.raises(ValueError, match=message), tracked as span:
        span.output_tokens = -2
    failed = captured.last()
    assert isinstance(failed, InferenceFailed) and failed.error_type == "ValueError"


def test_a_completion_event_that_cannot_be_built_is_recorded_as_invalid_span_value(
    captured: Captured,
) -> None:
    with inference_span("llm", "v1", bus=captured.bus) as span:
        span.output_tokens = 0
        assert span._values is not None
        span._values.output_tokens = -1  # past the setter's check, as a bug would
    assert_one_request(captured.events, InferenceStarted, InferenceFailed)
    failed = captured.last()
    assert isinstance(failed, InferenceFailed) and failed.error_type == "InvalidSpanValue"


def test_misuse_of_a_span_raises(captured: Captured) -> None:
    span = inference_span("llm", "v1", bus=captured.bus)
    with pytest.raises(RuntimeError, match="before the span started"):
        span.chunk()
    with span:
        pass
    with pytest.raises(RuntimeError, match="has ended"):
        span.output_tokens = 1
    with pytest.raises(RuntimeError, match="only once"):
        span.__enter__()
    assert captured.kinds() == ["InferenceStarted", "InferenceCompleted"]


def test_bad_arguments_raise_at_decoration_and_creation() -> None:
    with pytest.raises(ValueError, match="'model_name' must be a non-empty string: ''"):
        track_inference("", "v1")
    with pytest.raises(ValueError, match="'version' must be a non-empty string: None"):
        inference_span("llm", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'request_id' must be a non-empty string or None: ''"):
        inference_span("llm", "v1", request_id="")
    with pytest.raises(TypeError, match="'bus' must be an EventBus, a Metrics or None: 3"):
        track_inference("llm", "v1", bus=3)  # type: ignore[arg-type]


# -- buses --------------------------------------------------------------------------------


def test_bus_may_be_a_metrics_and_none_means_the_default_bus_at_call_time(
    registry: AggregatingRegistry,
) -> None:
    reset_default_bus()
    try:
        metrics = Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())

        @track_inference("llm", "v1", bus=metrics)
        def via_metrics() -> None:
            pass

        @track_inference("llm", "v1")
        def via_default() -> None:
            pass

        via_metrics()
        default_events: list[Event] = []
        default_bus().subscribe(Event, default_events.append)  # after decoration
        via_default()
        assert [type(event).__name__ for event in default_events] == [
            "InferenceStarted",
            "InferenceCompleted",
        ]
        snapshot = metrics.snapshot()
        requests = snapshot.get(names.REQUESTS_TOTAL, MV)
        assert isinstance(requests, CounterSeries) and requests.total == 1.0
        metrics.close()
    finally:
        reset_default_bus()


def test_a_bus_without_listeners_gets_no_events_and_the_call_still_works() -> None:
    bus = EventBus()

    @track_inference("llm", "v1", bus=bus)
    def stream() -> Iterator[InferenceSpan | None]:
        yield current_span()

    (span,) = list(stream())
    assert span is not None and span.chunks == 1 and span.time_to_first_token_ms is not None
    assert bus.listener_errors == 0


# -- with the collector, concurrently -----------------------------------------------------


def test_streams_through_the_collector_count_ttft_once_and_record_chunks(
    metrics: Metrics,
) -> None:
    @track_inference("llm", "v1", bus=metrics)
    def stream(n: int) -> Iterator[str]:
        span = current_span()
        assert span is not None
        span.output_tokens = n
        yield from ["tok"] * n

    for n in (3, 5):
        assert len(list(stream(n))) == n
    snapshot = metrics.snapshot()
    ttft = snapshot.get(names.TIME_TO_FIRST_TOKEN, MV)
    chunks = snapshot.get(names.STREAM_CHUNKS, MV)
    per_token = snapshot.get(names.TIME_PER_OUTPUT_TOKEN, MV)
    in_flight = snapshot.get(names.IN_FLIGHT, MV)
    assert isinstance(ttft, DistributionSeries) and ttft.count == 2
    assert isinstance(chunks, DistributionSeries) and (chunks.count, chunks.total) == (2, 8.0)
    assert isinstance(per_token, DistributionSeries) and per_token.count == 2
    assert isinstance(in_flight, GaugeSeries) and in_flight.value == 0.0


def test_many_threads_at_once_are_counted_exactly(metrics: Metrics) -> None:
    threads, calls = 8, 250
    barrier = threading.Barrier(threads)
    seen_ids: set[str] = set()
    lock = threading.Lock()

    @track_inference("llm", "v1", bus=metrics)
    def predict(i: int) -> int:
        span = current_span()
        assert span is not None and span.request_id is not None
        with lock:
            seen_ids.add(span.request_id)
        span.output_tokens = i % 3
        if i % 10 == 0:
            raise ModelError(str(i))
        return i

    def worker() -> None:
        barrier.wait()
        for i in range(calls):
            with contextlib.suppress(ModelError):
                predict(i)
            assert current_span() is None

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    snapshot = metrics.snapshot()
    requests = snapshot.get(names.REQUESTS_TOTAL, MV)
    errors = snapshot.get(names.ERRORS_TOTAL, {**MV, names.ERROR_TYPE: "ModelError"})
    output = snapshot.get(names.TOKEN_USAGE, {**MV, names.TOKEN_TYPE: "output"})
    in_flight = snapshot.get(names.IN_FLIGHT, MV)
    assert isinstance(requests, CounterSeries) and requests.total == threads * calls
    assert isinstance(errors, CounterSeries) and errors.total == threads * calls // 10
    ok_tokens = sum(i % 3 for i in range(calls) if i % 10)
    assert isinstance(output, DistributionSeries) and output.total == threads * ok_tokens
    assert isinstance(in_flight, GaugeSeries) and in_flight.value == 0.0
    assert len(seen_ids) == threads * calls


def test_many_asyncio_tasks_at_once_each_see_their_own_span(metrics: Metrics) -> None:
    tasks = 300

    @track_inference("llm", "v1", bus=metrics)
    async def stream(i: int) -> AsyncIterator[int]:
        for _ in range(i % 4 + 1):
            await asyncio.sleep(0)
            span = current_span()
            assert span is not None
            yield i

    @track_inference("llm", "v1", bus=metrics)
    async def predict(i: int) -> int:
        span = current_span()
        await asyncio.sleep(0)
        assert current_span() is span and span is not None
        span.output_tokens = i
        return sum([token async for token in stream(i)])

    async def main() -> list[int]:
        return await asyncio.gather(*(predict(i) for i in range(tasks)))

    results = asyncio.run(main())
    assert results == [i * (i % 4 + 1) for i in range(tasks)]
    snapshot = metrics.snapshot()
    requests = snapshot.get(names.REQUESTS_TOTAL, MV)
    output = snapshot.get(names.TOKEN_USAGE, {**MV, names.TOKEN_TYPE: "output"})
    chunks = snapshot.get(names.STREAM_CHUNKS, MV)
    ttft = snapshot.get(names.TIME_TO_FIRST_TOKEN, MV)
    in_flight = snapshot.get(names.IN_FLIGHT, MV)
    assert isinstance(requests, CounterSeries) and requests.total == 2 * tasks
    assert isinstance(output, DistributionSeries) and output.total == sum(range(tasks))
    assert isinstance(chunks, DistributionSeries)
    assert (chunks.count, chunks.total) == (tasks, sum(i % 4 + 1 for i in range(tasks)))
    assert isinstance(ttft, DistributionSeries) and ttft.count == tasks
    assert isinstance(in_flight, GaugeSeries) and in_flight.value == 0.0


def test_the_span_of_a_call_is_inherited_by_tasks_it_starts(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    async def predict() -> bool:
        async def child() -> InferenceSpan | None:
            return current_span()

        return await asyncio.create_task(child()) is current_span()

    assert asyncio.run(predict()) is True


def test_request_ids_are_unique_per_call(captured: Captured) -> None:
    @track_inference("llm", "v1", bus=captured.bus)
    def predict() -> None:
        pass

    for _ in range(100):
        predict()
    ids = {getattr(event, "request_id", None) for event in captured.events}
    assert len(ids) == 100 and None not in ids


def test_decorated_functions_keep_their_types() -> None:
    """Checked by mypy: the decorated function has the original signature."""

    @track_inference("llm", "v1", bus=EventBus())
    def predict(x: int) -> str:
        return str(x)

    result: str = predict(1)
    assert result == "1"
    keep: dict[str, Any] = {"wrapped": getattr(predict, "__wrapped__", None)}
    assert keep["wrapped"] is not None


def test_in_flight_is_exact_while_many_threads_are_inside(metrics: Metrics) -> None:
    # Each step is recorded under the collector's lock, so the gauge shows the exact count
    # whichever thread's step came last: all inside at once, then none.
    threads, rounds = 16, 5
    inside = threading.Barrier(threads + 1)
    leave = threading.Barrier(threads + 1)

    @track_inference("llm", "v1", bus=metrics)
    def predict() -> None:
        inside.wait(timeout=30)
        leave.wait(timeout=30)

    def worker() -> None:
        for _ in range(rounds):
            predict()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    seen: list[float] = []
    for _ in range(rounds):
        inside.wait(timeout=30)  # every thread has started its call
        gauge = metrics.snapshot().get(names.IN_FLIGHT, MV)
        assert isinstance(gauge, GaugeSeries)
        seen.append(gauge.value)
        leave.wait(timeout=30)
    for thread in pool:
        thread.join(timeout=30)
    gauge = metrics.snapshot().get(names.IN_FLIGHT, MV)
    assert isinstance(gauge, GaugeSeries) and gauge.value == 0.0
    assert seen == [float(threads)] * rounds
