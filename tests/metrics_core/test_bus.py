from __future__ import annotations

import gc
import itertools
import sys
import threading
from collections.abc import Callable, Iterator

import attrs
import blinker
import pytest
from structlog.testing import capture_logs

from metrics_core.bus import EventBus, default_bus, reset_default_bus
from metrics_core.events import (
    Event,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    ModelEvent,
)


@attrs.frozen(kw_only=True, slots=True)
class ModelSwapped(Event):
    """A user-defined event: the serving slot now runs ``new_version``."""

    slot: str
    new_version: str


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def default_bus_reset() -> Iterator[None]:
    reset_default_bus()
    yield
    reset_default_bus()


def completed(duration_ms: float = 12.5) -> InferenceCompleted:
    return InferenceCompleted(
        model_name="resnet", version="v1", duration_ms=duration_ms, timestamp=1.0
    )


def failed() -> InferenceFailed:
    return InferenceFailed(
        model_name="resnet", version="v1", duration_ms=3.0, error_type="Timeout", timestamp=2.0
    )


# -- subscribing ---------------------------------------------------------------------------


def test_decorator_form_returns_the_function_and_subscribes_it(bus: EventBus) -> None:
    seen: list[InferenceCompleted] = []

    def record(event: InferenceCompleted) -> None:
        seen.append(event)

    decorated = bus.subscribe(InferenceCompleted)(record)
    event = completed()
    bus.emit(event)

    assert decorated is record
    assert seen == [event]


def test_direct_form_returns_the_handler(bus: EventBus) -> None:
    seen: list[Event] = []
    handler = seen.append

    assert bus.subscribe(InferenceCompleted, handler) is handler
    bus.emit(completed())
    assert len(seen) == 1


def test_subscribe_rejects_a_type_that_is_not_an_event(bus: EventBus) -> None:
    message = r"^'event_type' must be a subclass of Event: <class 'int'>$"
    with pytest.raises(TypeError, match=message):
        bus.subscribe(int, print)  # type: ignore[type-var]


def test_unsubscribe_and_signal_for_reject_non_events_too(bus: EventBus) -> None:
    with pytest.raises(TypeError, match="must be a subclass of Event"):
        bus.unsubscribe(str, print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a subclass of Event"):
        bus.signal_for(object)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a subclass of Event"):
        bus.subscribe(completed(), print)  # type: ignore[call-overload]


def test_has_listeners_rejects_non_events_hashable_or_not(bus: EventBus) -> None:
    # The cache is looked up first (spans ask twice per request); a miss still checks.
    bus.subscribe(InferenceCompleted, print)
    assert bus.has_listeners(InferenceCompleted) is True
    for wrong in (int, completed(), [InferenceCompleted]):
        with pytest.raises(TypeError, match=r"^'event_type' must be a subclass of Event: "):
            bus.has_listeners(wrong)  # type: ignore[arg-type]


def test_subscribe_rejects_coroutine_functions(bus: EventBus) -> None:
    async def on_event(event: Event) -> None:
        pass

    with pytest.raises(TypeError, match=r"^'handler' must not be a coroutine function: <function"):
        bus.subscribe(InferenceCompleted, on_event)
    assert bus.has_listeners(InferenceCompleted) is False


def test_subscribing_the_same_handler_twice_to_one_class_calls_it_once(bus: EventBus) -> None:
    calls: list[Event] = []
    record = calls.append  # builtin bound methods are new objects on each access
    bus.subscribe(InferenceCompleted, record)
    bus.subscribe(InferenceCompleted, record)

    bus.emit(completed())

    assert len(calls) == 1


# -- dispatch by class ---------------------------------------------------------------------


def test_base_class_listener_receives_subclasses(bus: EventBus) -> None:
    model_events: list[ModelEvent] = []
    everything: list[Event] = []
    bus.subscribe(ModelEvent, model_events.append)
    bus.subscribe(Event, everything.append)
    ok, bad = completed(), failed()
    swapped = ModelSwapped(slot="a", new_version="v2", timestamp=3.0)

    bus.emit(ok)
    bus.emit(bad)
    bus.emit(swapped)

    assert model_events == [ok, bad]
    assert everything == [ok, bad, swapped]


def test_listener_of_a_sibling_class_is_not_called(bus: EventBus) -> None:
    failures: list[InferenceFailed] = []
    bus.subscribe(InferenceFailed, failures.append)

    bus.emit(completed())

    assert failures == []


def test_user_defined_event_subclass(bus: EventBus) -> None:
    seen: list[ModelSwapped] = []

    @bus.subscribe(ModelSwapped)
    def on_swap(event: ModelSwapped) -> None:
        seen.append(event)

    bus.emit(ModelSwapped(slot="primary", new_version="v7", timestamp=5.0))

    assert seen == [ModelSwapped(slot="primary", new_version="v7", timestamp=5.0)]
    assert bus.has_listeners(ModelSwapped) is True


def test_dispatch_order_most_specific_class_first_then_subscription_order(
    bus: EventBus,
) -> None:
    order: list[str] = []
    bus.subscribe(Event, lambda e: order.append("event-1"))
    bus.subscribe(ModelEvent, lambda e: order.append("model-1"))
    bus.subscribe(InferenceCompleted, lambda e: order.append("completed-1"))
    bus.subscribe(Event, lambda e: order.append("event-2"))
    bus.subscribe(InferenceCompleted, lambda e: order.append("completed-2"))
    bus.subscribe(ModelEvent, lambda e: order.append("model-2"))

    bus.emit(completed())

    assert order == ["completed-1", "completed-2", "model-1", "model-2", "event-1", "event-2"]


def test_handler_on_several_classes_of_the_mro_is_called_once_per_subscription(
    bus: EventBus,
) -> None:
    calls: list[Event] = []
    bus.subscribe(InferenceCompleted, calls.append)
    bus.subscribe(Event, calls.append)

    bus.emit(completed())
    bus.emit(ModelSwapped(slot="a", new_version="v2"))

    assert len(calls) == 3


def test_emitting_with_no_listeners_does_nothing(bus: EventBus) -> None:
    bus.emit(completed())
    bus.emit(ModelSwapped(slot="a", new_version="v2"))

    assert bus.listener_errors == 0
    assert bus.has_listeners(InferenceCompleted) is False


def test_has_listeners_counts_listeners_of_bases(bus: EventBus) -> None:
    bus.subscribe(ModelEvent, print)

    assert bus.has_listeners(InferenceStarted) is True
    assert bus.has_listeners(ModelEvent) is True
    assert bus.has_listeners(Event) is False
    assert bus.has_listeners(ModelSwapped) is False


# -- unsubscribe and the dispatch cache ----------------------------------------------------


def test_unsubscribe_stops_delivery_after_the_cache_was_built(bus: EventBus) -> None:
    seen: list[InferenceCompleted] = []

    def record(event: InferenceCompleted) -> None:
        seen.append(event)

    bus.subscribe(InferenceCompleted, record)
    bus.emit(completed(1.0))

    bus.unsubscribe(InferenceCompleted, record)
    bus.emit(completed(2.0))

    assert [e.duration_ms for e in seen] == [1.0]
    assert bus.has_listeners(InferenceCompleted) is False


def test_unsubscribe_of_a_bound_method(bus: EventBus) -> None:
    class Collector:
        def __init__(self) -> None:
            self.seen: list[Event] = []

        def on_event(self, event: Event) -> None:
            self.seen.append(event)

    collector = Collector()
    bus.subscribe(InferenceCompleted, collector.on_event)
    bus.emit(completed())
    bus.unsubscribe(InferenceCompleted, collector.on_event)
    bus.emit(completed())

    assert len(collector.seen) == 1


def test_unsubscribe_of_a_handler_never_subscribed_is_a_no_op(bus: EventBus) -> None:
    bus.unsubscribe(InferenceCompleted, print)
    bus.subscribe(InferenceFailed, print)
    bus.unsubscribe(InferenceCompleted, print)

    assert bus.has_listeners(InferenceFailed) is True


def test_unsubscribe_only_removes_that_class(bus: EventBus) -> None:
    calls: list[Event] = []
    record = calls.append
    bus.subscribe(InferenceCompleted, record)
    bus.subscribe(Event, record)

    bus.unsubscribe(InferenceCompleted, record)
    bus.emit(completed())

    assert len(calls) == 1


def test_subscribe_after_an_emit_takes_effect(bus: EventBus) -> None:
    first: list[Event] = []
    late: list[Event] = []
    bus.subscribe(InferenceCompleted, first.append)
    bus.emit(completed(1.0))

    bus.subscribe(Event, late.append)
    bus.emit(completed(2.0))

    assert len(first) == 2
    assert len(late) == 1


def test_listener_subscribed_during_dispatch_runs_from_the_next_emit(bus: EventBus) -> None:
    late: list[Event] = []

    def subscribe_another(event: Event) -> None:
        bus.subscribe(InferenceCompleted, late.append)

    bus.subscribe(InferenceCompleted, subscribe_another)
    bus.emit(completed(1.0))
    assert late == []

    bus.emit(completed(2.0))
    assert len(late) == 1


def test_clear_disconnects_everything(bus: EventBus) -> None:
    calls: list[Event] = []
    hooks: list[BaseException] = []
    signal = bus.signal_for(InferenceCompleted)
    bus.subscribe(InferenceCompleted, calls.append)
    bus.subscribe(Event, calls.append)
    bus.on_listener_error(lambda event, listener, error: hooks.append(error))
    bus.emit(completed())

    bus.clear()
    bus.emit(completed())

    assert len(calls) == 2
    assert bus.has_listeners(InferenceCompleted) is False
    assert bus.signal_for(InferenceCompleted) is signal
    assert signal.receivers == {}


# -- strong references ---------------------------------------------------------------------


def test_receivers_defined_inside_a_function_survive_garbage_collection(bus: EventBus) -> None:
    seen: list[Event] = []

    def connect_local_handlers() -> None:
        def local(event: Event) -> None:
            seen.append(event)

        bus.subscribe(InferenceCompleted, local)

        @bus.subscribe(InferenceCompleted)
        def decorated(event: Event) -> None:
            seen.append(event)

        bus.subscribe(InferenceCompleted, lambda event: seen.append(event))  # noqa: PLW0108

    connect_local_handlers()
    gc.collect()
    bus.emit(completed())

    assert len(seen) == 3


# -- blinker interoperability --------------------------------------------------------------


def test_signal_for_send_calls_the_handler_with_the_event(bus: EventBus) -> None:
    seen: list[Event] = []
    bus.subscribe(InferenceCompleted, seen.append)
    event = completed()

    result = bus.signal_for(InferenceCompleted).send(event)

    assert seen == [event]
    assert result == [(seen.append, None)]


def test_signal_for_returns_one_anonymous_signal_per_class(bus: EventBus) -> None:
    signal = bus.signal_for(InferenceCompleted)

    assert isinstance(signal, blinker.Signal)
    assert not isinstance(signal, blinker.NamedSignal)
    assert bus.signal_for(InferenceCompleted) is signal
    assert bus.signal_for(InferenceFailed) is not signal
    assert EventBus().signal_for(InferenceCompleted) is not signal


def test_receivers_connected_through_the_signal_are_seen_by_emit(bus: EventBus) -> None:
    seen: list[Event] = []
    bus.emit(completed())  # builds the dispatch cache before the native connect
    signal = bus.signal_for(ModelEvent)

    record = seen.append
    signal.connect(record, weak=False)
    bus.emit(completed())
    signal.disconnect(record)
    bus.emit(completed())

    assert len(seen) == 1


weakly_seen: list[Event] = []


def record_weakly(event: Event) -> None:
    weakly_seen.append(event)


def test_weak_receivers_connected_through_the_signal_are_resolved(bus: EventBus) -> None:
    weakly_seen.clear()
    bus.signal_for(InferenceCompleted).connect(record_weakly)  # blinker's default: weak
    event = completed()

    bus.emit(event)

    assert weakly_seen == [event]
    assert bus.has_listeners(InferenceCompleted) is True


# -- failing listeners ---------------------------------------------------------------------


def explode(event: Event) -> None:
    raise RuntimeError("listener broke")


def test_raising_listener_does_not_stop_the_others(bus: EventBus) -> None:
    seen: list[str] = []
    bus.subscribe(InferenceCompleted, lambda e: seen.append("before"))
    bus.subscribe(InferenceCompleted, explode)
    bus.subscribe(InferenceCompleted, lambda e: seen.append("after"))
    bus.subscribe(Event, lambda e: seen.append("base"))

    bus.emit(completed())

    assert seen == ["before", "after", "base"]


def test_raising_listener_is_counted(bus: EventBus) -> None:
    bus.subscribe(InferenceCompleted, explode)
    bus.subscribe(Event, explode)

    bus.emit(completed())
    bus.emit(completed())
    bus.emit(failed())

    name = f"{__name__}.explode"
    assert bus.listener_errors == 5
    assert bus.error_counts() == {
        ("InferenceCompleted", name): 4,
        ("InferenceFailed", name): 1,
    }


def test_error_counts_returns_a_copy(bus: EventBus) -> None:
    bus.subscribe(InferenceCompleted, explode)
    bus.emit(completed())

    counts = bus.error_counts()
    counts.clear()

    assert bus.error_counts() == {("InferenceCompleted", f"{__name__}.explode"): 1}


def test_raising_listener_is_logged(bus: EventBus) -> None:
    bus.subscribe(InferenceCompleted, explode)

    with capture_logs() as logs:
        bus.emit(completed())

    assert logs == [
        {
            "event": "listener_failed",
            "event_type": "InferenceCompleted",
            "listener": f"{__name__}.explode",
            "exc_info": True,
            "log_level": "error",
        }
    ]


def test_listener_names_are_readable_qualified_names(bus: EventBus) -> None:
    class Collector:
        def on_event(self, event: Event) -> None:
            raise ValueError("method broke")

        def __call__(self, event: Event) -> None:
            raise ValueError("instance broke")

    collector = Collector()
    bus.subscribe(InferenceCompleted, collector.on_event)
    bus.subscribe(InferenceCompleted, collector)

    bus.emit(completed())

    prefix = f"{__name__}.test_listener_names_are_readable_qualified_names.<locals>.Collector"
    assert bus.error_counts() == {
        ("InferenceCompleted", f"{prefix}.on_event"): 1,
        ("InferenceCompleted", prefix): 1,
    }


def test_error_hook_receives_event_listener_and_error(bus: EventBus) -> None:
    reports: list[tuple[Event, Callable[..., object], BaseException]] = []
    bus.subscribe(InferenceCompleted, explode)

    @bus.on_listener_error
    def record(event: Event, listener: Callable[..., object], error: BaseException) -> None:
        reports.append((event, listener, error))

    event = completed()
    bus.emit(event)

    assert record.__name__ == "record"
    assert len(reports) == 1
    reported_event, listener, error = reports[0]
    assert reported_event is event
    assert listener is explode
    assert isinstance(error, RuntimeError)
    assert str(error) == "listener broke"


def test_error_hook_that_raises_is_swallowed_and_logged(bus: EventBus) -> None:
    later_hook: list[BaseException] = []
    after: list[Event] = []
    bus.subscribe(InferenceCompleted, explode)
    bus.subscribe(InferenceCompleted, after.append)

    @bus.on_listener_error
    def broken_hook(event: Event, listener: Callable[..., object], error: BaseException) -> None:
        raise KeyError("hook broke")

    bus.on_listener_error(lambda event, listener, error: later_hook.append(error))

    with capture_logs() as logs:
        bus.emit(completed())

    assert len(after) == 1
    assert len(later_hook) == 1
    assert bus.listener_errors == 1
    assert [entry["event"] for entry in logs] == ["listener_failed", "error_hook_failed"]
    assert logs[1]["hook"] == (
        f"{__name__}.test_error_hook_that_raises_is_swallowed_and_logged.<locals>.broken_hook"
    )
    assert logs[1]["listener"] == f"{__name__}.explode"
    assert logs[1]["exc_info"] is True


def test_base_exceptions_propagate(bus: EventBus) -> None:
    def interrupt(event: Event) -> None:
        raise KeyboardInterrupt

    bus.subscribe(InferenceCompleted, interrupt)

    with pytest.raises(KeyboardInterrupt):
        bus.emit(completed())
    assert bus.listener_errors == 0


# -- threads -------------------------------------------------------------------------------


def run_threads(count: int, target: Callable[[], None]) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_emits_deliver_every_event_exactly_once(bus: EventBus) -> None:
    calls = itertools.count()
    lock = threading.Lock()
    totals = {"calls": 0}

    def count_call(event: Event) -> None:
        with lock:
            totals["calls"] += 1

    bus.subscribe(InferenceCompleted, count_call)
    bus.subscribe(Event, lambda event: next(calls))
    event = completed()

    def emit_many() -> None:
        for _ in range(2_000):
            bus.emit(event)

    run_threads(50, emit_many)

    assert totals["calls"] == 100_000
    assert next(calls) == 100_000


def test_concurrent_failures_are_counted_exactly(bus: EventBus) -> None:
    bus.subscribe(InferenceCompleted, explode)
    event = completed()

    def emit_many() -> None:
        for _ in range(200):
            bus.emit(event)

    with capture_logs():
        run_threads(20, emit_many)

    assert bus.listener_errors == 4_000
    assert bus.error_counts() == {("InferenceCompleted", f"{__name__}.explode"): 4_000}


@pytest.fixture
def fast_thread_switching() -> Iterator[None]:
    # Hand the GIL over often, so emits and subscribes interleave finely.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("fast_thread_switching")
def test_concurrent_subscribe_during_emit_does_not_raise(bus: EventBus) -> None:
    stable = itertools.count()
    bus.subscribe(InferenceCompleted, lambda event: next(stable))
    errors: list[BaseException] = []
    emitted: list[int] = []
    churning = threading.Event()
    churning.set()
    event = completed()

    def emit_while_churning() -> None:
        try:
            count = 0
            while churning.is_set() or count < 1_000:
                bus.emit(event)
                count += 1
            emitted.append(count)
        except BaseException as error:  # pragma: no cover - the failure being tested for
            errors.append(error)

    def churn() -> None:
        try:
            for _ in range(200):
                handlers = [lambda e: None for _ in range(3)]
                pairs = list(zip((InferenceCompleted, ModelEvent, Event), handlers, strict=True))
                for cls, handler in pairs:
                    bus.subscribe(cls, handler)
                for cls, handler in pairs:
                    bus.unsubscribe(cls, handler)
        except BaseException as error:  # pragma: no cover - the failure being tested for
            errors.append(error)

    emitters = [threading.Thread(target=emit_while_churning) for _ in range(4)]
    for thread in emitters:
        thread.start()
    run_threads(4, churn)
    churning.clear()
    for thread in emitters:
        thread.join()

    assert errors == []
    assert bus.listener_errors == 0
    assert len(emitted) == 4
    assert next(stable) == sum(emitted)
    # Only the stable listener is left, and the cache reflects exactly that.
    assert bus.has_listeners(ModelEvent) is False
    bus.emit(event)
    assert next(stable) == sum(emitted) + 2


# -- the default bus -----------------------------------------------------------------------


@pytest.mark.usefixtures("default_bus_reset")
def test_default_bus_is_created_once() -> None:
    first = default_bus()

    assert isinstance(first, EventBus)
    assert default_bus() is first


@pytest.mark.usefixtures("default_bus_reset")
def test_reset_default_bus_makes_a_fresh_one() -> None:
    first = default_bus()

    reset_default_bus()

    assert default_bus() is not first


@pytest.mark.usefixtures("default_bus_reset")
def test_default_bus_is_created_once_under_threads() -> None:
    seen: list[EventBus] = []
    barrier = threading.Barrier(16)

    def fetch() -> None:
        barrier.wait()
        seen.append(default_bus())

    run_threads(16, fetch)

    assert len(seen) == 16
    assert all(bus is seen[0] for bus in seen)
