"""Extra dimensions: event attributes kept as tags, per-key value limits, splits and filters."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import InferenceCollector
from collectors._dimensions import OVERFLOW_VALUE, Dimensions
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import FirstTokenReceived, InferenceCompleted, InferenceFailed
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries
from metrics_core.tags import Tags

MV: dict[str, Any] = {"model_name": "chat", "version": "v1"}


def wired(**options: Any) -> Metrics:
    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    return Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector(**options))


def test_only_kept_keys_become_tags() -> None:
    metrics = wired(dimensions=("provider", "streamed"))
    metrics.bus.emit(
        InferenceCompleted(
            **MV,
            duration_ms=10.0,
            output_tokens=4,
            attributes={"provider": "openai", "streamed": True, "user": "u-1"},
        )
    )
    snapshot = metrics.snapshot()
    requests = snapshot.find(names.REQUESTS_TOTAL)
    assert [s.tags for s in requests] == [Tags({**MV, "provider": "openai", "streamed": "true"})]
    assert {tuple(sorted(s.tags)) for s in snapshot} >= {
        ("gen_ai.token.type", "model_name", "provider", "streamed", "version")
    }
    assert all("user" not in s.tags for s in snapshot)


def test_without_dimensions_attributes_are_ignored() -> None:
    metrics = wired()
    metrics.bus.emit(InferenceCompleted(**MV, duration_ms=1.0, attributes={"provider": "x"}))
    (series,) = metrics.snapshot().find(names.REQUESTS_TOTAL)
    assert series.tags == Tags(MV)


def test_missing_keys_are_left_out_and_failures_and_ttft_are_split_too() -> None:
    metrics = wired(dimensions=("provider", "tenant"))
    emit = metrics.bus.emit
    emit(InferenceFailed(**MV, duration_ms=3.0, error_type="Timeout", attributes={"tenant": "a"}))
    emit(FirstTokenReceived(**MV, time_to_first_token_ms=7.0, attributes={"provider": "p"}))
    snapshot = metrics.snapshot()
    (errors,) = snapshot.find(names.ERRORS_TOTAL)
    assert errors.tags == Tags({**MV, "tenant": "a", "error_type": "Timeout"})
    (ttft,) = snapshot.find(names.TIME_TO_FIRST_TOKEN)
    assert ttft.tags == Tags({**MV, "provider": "p"})


def test_each_key_admits_its_own_number_of_values_then_folds_and_counts() -> None:
    metrics = wired(dimensions=("tenant", "provider"), max_dimension_values=3)
    for i in range(10):
        metrics.bus.emit(
            InferenceCompleted(
                **MV, duration_ms=1.0, attributes={"tenant": f"t{i}", "provider": "openai"}
            )
        )
    snapshot = metrics.snapshot()
    by_tenant = {
        s.tags["tenant"]: s.total
        for s in snapshot.find(names.REQUESTS_TOTAL)
        if isinstance(s, CounterSeries)
    }
    assert by_tenant == {"t0": 1.0, "t1": 1.0, "t2": 1.0, OVERFLOW_VALUE: 7.0}
    overflow = snapshot.get(names.DIMENSION_OVERFLOW_TOTAL, {"dimension": "tenant"})
    assert isinstance(overflow, CounterSeries)
    assert overflow.total == 7.0
    # provider had one value: nothing folded there
    assert snapshot.get(names.DIMENSION_OVERFLOW_TOTAL, {"dimension": "provider"}) is None


@pytest.mark.parametrize(
    ("keys", "error", "message"),
    [
        ("provider", TypeError, "'dimensions' must be a sequence of keys"),
        (("model_name",), ValueError, "must not include a key the collector sets"),
        (("error_type",), ValueError, "must not include a key the collector sets"),
        (("le",), ValueError, "must not include a key the collector sets"),
        (("a", "a"), ValueError, "must not repeat a key"),
        (("bad key",), ValueError, "'dimensions': tag key must be an identifier"),
    ],
)
def test_bad_dimensions_raise_naming_the_field(keys: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        InferenceCollector(dimensions=keys)


def test_bad_value_limit_raises() -> None:
    with pytest.raises(ValueError, match="'max_dimension_values' must be an int >= 1: 0"):
        InferenceCollector(dimensions=("a",), max_dimension_values=0)


def test_value_limit_holds_under_many_threads_with_exact_counts() -> None:
    dims = Dimensions(("tenant",), max_values=50)
    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    dims.bind(registry)
    barrier = threading.Barrier(8)
    results: list[list[str]] = [[] for _ in range(8)]

    def work(n: int) -> None:
        barrier.wait()
        for i in range(500):
            results[n].append(dims.project(Tags({"tenant": f"t{(i * 7 + n) % 200}"}))[0][1])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    admitted = dims.seen("tenant")
    assert len(admitted) == 50
    values = [v for chunk in results for v in chunk]
    assert set(values) == admitted | {OVERFLOW_VALUE}
    folded = registry.snapshot().get(names.DIMENSION_OVERFLOW_TOTAL, {"dimension": "tenant"})
    assert isinstance(folded, CounterSeries)
    assert folded.total == values.count(OVERFLOW_VALUE)


def _emit_mixed(
    metrics: Metrics, seed: int, count: int
) -> list[InferenceCompleted | InferenceFailed]:
    rng = random.Random(seed)
    events: list[InferenceCompleted | InferenceFailed] = []
    for i in range(count):
        attributes = {
            key: value
            for key, value in (
                ("provider", rng.choice(["openai", "anthropic", None])),
                ("tenant", rng.choice(["a", "b", "c", None])),
            )
            if value is not None
        }
        version = rng.choice(["v1", "v2"])
        if rng.random() < 0.2:
            event: InferenceCompleted | InferenceFailed = InferenceFailed(
                model_name="chat",
                version=version,
                duration_ms=rng.uniform(1, 500),
                error_type=rng.choice(["Timeout", "RateLimit"]),
                attributes=attributes,
            )
        else:
            event = InferenceCompleted(
                model_name="chat",
                version=version,
                duration_ms=rng.uniform(1, 500),
                output_tokens=rng.randint(0, 50),
                cost_usd=0.25,
                request_id=f"r{i}",
                attributes=attributes,
            )
        metrics.bus.emit(event)
        events.append(event)
    return events


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), count=st.integers(1, 120))
def test_splits_sum_to_the_unsplit_totals(seed: int, count: int) -> None:
    metrics = wired(dimensions=("provider", "tenant"))
    events = _emit_mixed(metrics, seed, count)
    whole = metrics.get_all_metrics(60)
    split = metrics.get_all_metrics(60, by=("provider",))
    for key, total in whole.items():
        parts = [m for m in split.values() if m.key.split("|")[0] == key]
        assert sum(p.request_count for p in parts) == total.request_count
        assert sum(p.cost_usd for p in parts) == pytest.approx(total.cost_usd)
        errors: dict[str, int] = {}
        for part in parts:
            for error_type, n in part.errors_by_type.items():
                errors[error_type] = errors.get(error_type, 0) + n
        assert errors == dict(total.errors_by_type)
    # and against the ground truth of what was emitted
    for version in ("v1", "v2"):
        for provider in ("openai", "anthropic"):
            expected = sum(
                1
                for e in events
                if e.version == version and e.attributes.get("provider") == provider
            )
            got = metrics.get_metrics("chat", version, 60, where={"provider": provider})
            assert got.request_count == expected
            key = f"chat:{version}|provider={provider}"
            assert (split[key].request_count if key in split else 0) == expected


def test_where_and_by_read_exact_quantiles_of_the_group() -> None:
    metrics = wired(dimensions=("provider",))
    for ms in (10.0, 20.0, 30.0):
        metrics.bus.emit(InferenceCompleted(**MV, duration_ms=ms, attributes={"provider": "a"}))
    for ms in (1000.0, 2000.0):
        metrics.bus.emit(InferenceCompleted(**MV, duration_ms=ms, attributes={"provider": "b"}))
    a = metrics.get_metrics("chat", "v1", 60, where={"provider": "a"})
    assert a.request_count == 3
    assert a.average_latency_ms == pytest.approx(20.0)
    whole = metrics.get_metrics("chat", "v1", 60)
    assert whole.request_count == 5
    assert whole.average_latency_ms == pytest.approx(3060.0 / 5)  # both series merged
    assert whole.p50_latency_ms == pytest.approx(30.0, rel=0.01)  # the median of all five
    split = metrics.get_all_metrics(60, by=("provider",))
    assert sorted(split) == ["chat:v1|provider=a", "chat:v1|provider=b"]
    assert split["chat:v1|provider=b"].dimensions == {"provider": "b"}
    assert split["chat:v1|provider=b"].average_latency_ms == pytest.approx(1500.0)
    assert metrics.get_all_metrics(60, where={"provider": "zzz"}) == {}


def test_requests_without_the_by_key_form_their_own_group() -> None:
    metrics = wired(dimensions=("provider",))
    metrics.bus.emit(InferenceCompleted(**MV, duration_ms=1.0))
    metrics.bus.emit(InferenceCompleted(**MV, duration_ms=1.0, attributes={"provider": "a"}))
    split = metrics.get_all_metrics(60, by=("provider",))
    assert {k: m.request_count for k, m in split.items()} == {
        "chat:v1": 1,
        "chat:v1|provider=a": 1,
    }


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"by": "provider"}, TypeError, "'by' must be a sequence"),
        ({"by": ("version",)}, ValueError, "'by' must not include 'version'"),
        ({"by": ("a", "a")}, ValueError, "'by' must not repeat"),
        ({"where": {"bad key": "x"}}, ValueError, "'where': tag key"),
        ({"where": {"a": [1]}}, ValueError, r"'where\['a'\]' must be a str"),
        ({"where": ["a"]}, TypeError, "'where' must be a mapping"),
    ],
)
def test_bad_where_and_by_raise(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        wired().get_all_metrics(60, **kwargs)


def test_gauges_stay_per_version() -> None:
    metrics = wired(dimensions=("provider",))
    metrics.record_active_connections("chat", "v1", 4)
    metrics.bus.emit(InferenceCompleted(**MV, duration_ms=1.0, attributes={"provider": "a"}))
    got = metrics.get_metrics("chat", "v1", 60, where={"provider": "a"})
    assert got.active_connections == 4
    latency = [s for s in metrics.snapshot() if isinstance(s, DistributionSeries)]
    assert all(s.tags.get("provider") == "a" for s in latency)


def test_combinations_are_bounded_too_and_counts_stay_exact() -> None:
    metrics = wired(dimensions=("a", "b"), max_dimension_values=10, max_dimension_sets=5)
    for i in range(10):
        for j in range(10):
            metrics.bus.emit(
                InferenceCompleted(**MV, duration_ms=1.0, attributes={"a": f"a{i}", "b": f"b{j}"})
            )
    snapshot = metrics.snapshot()
    requests = {
        (s.tags["a"], s.tags["b"]): s.total
        for s in snapshot.find(names.REQUESTS_TOTAL)
        if isinstance(s, CounterSeries)
    }
    assert len(requests) == 6  # five combinations, then every new one as (_other, _other)
    assert requests[(OVERFLOW_VALUE, OVERFLOW_VALUE)] == 95.0
    assert sum(requests.values()) == 100.0
    folded = snapshot.get(names.DIMENSION_OVERFLOW_TOTAL, {"dimension": "_combinations"})
    assert isinstance(folded, CounterSeries) and folded.total == 95.0
    with pytest.raises(ValueError, match="'max_dimension_sets' must be an int >= 1: 0"):
        InferenceCollector(dimensions=("a",), max_dimension_sets=0)


def test_split_keys_escape_their_separators() -> None:
    metrics = wired(dimensions=("p",))
    for value in ("a|p=b", "a"):
        metrics.bus.emit(InferenceCompleted(**MV, duration_ms=1.0, attributes={"p": value}))
    split = metrics.get_all_metrics(60, by=("p",))
    assert sorted(split) == ["chat:v1|p=a", "chat:v1|p=a\\|p\\=b"]


def test_reliability_collector_splits_retries_by_kept_dimensions() -> None:
    from collectors import ReliabilityCollector
    from metrics_core.events import RetryAttempted

    registry = AggregatingRegistry(clock=ManualClock(1_700_000_000.0))
    metrics = Metrics(bus=EventBus(), registry=registry)
    metrics.collect(ReliabilityCollector(dimensions=("provider",), max_dimension_values=1))
    for provider in ("openai", "openai", "anthropic", None):
        attributes = {} if provider is None else {"provider": provider, "user": "u"}
        metrics.bus.emit(
            RetryAttempted(
                **MV, attempt=1, error_type="RateLimit", delay_ms=100.0, attributes=attributes
            )
        )
    retries = {
        s.tags.get("provider"): s.total
        for s in metrics.snapshot().find(names.RETRIES_TOTAL)
        if isinstance(s, CounterSeries)
    }
    assert retries == {"openai": 2.0, OVERFLOW_VALUE: 1.0, None: 1.0}
    delays = metrics.snapshot().find(names.RETRY_DELAY)
    assert sum(s.count for s in delays if isinstance(s, DistributionSeries)) == 4
    with pytest.raises(ValueError, match="must not include a key the collector sets"):
        ReliabilityCollector(dimensions=("error_type",))


def test_compare_reads_every_split_series_and_takes_where() -> None:
    metrics = wired(dimensions=("provider",))
    for version, slow in (("v1", 100.0), ("v2", 400.0)):
        for i in range(60):
            provider = "openai" if i % 2 else "anthropic"
            ms = slow if provider == "openai" else 100.0
            metrics.bus.emit(
                InferenceCompleted(
                    model_name="chat",
                    version=version,
                    duration_ms=ms + i % 3,
                    attributes={"provider": provider},
                )
            )
    whole = metrics.compare("chat", "v1", "v2", 60)
    assert whole.latency_test.n_baseline == whole.latency_test.n_candidate == 60
    only = metrics.compare("chat", "v1", "v2", 60, where={"provider": "anthropic"})
    assert only.latency_test.n_baseline == 30
    assert only.p95_latency_delta_ms == pytest.approx(0.0, abs=2.0)
    assert whole.p95_latency_delta_ms > 250.0
