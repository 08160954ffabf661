"""Worker group benchmarks: the request path in a group, the publish and the merge at read time.

``python benchmarks/worker_group.py`` runs the full sizes, ``--quick`` smaller ones. Every
number is measured in the run that prints it:

1. ns per event through ``bus.emit(InferenceCompleted(...))`` for a ``Metrics`` alone and
   one in a worker group (its publisher thread writing every second meanwhile), batches
   interleaved, medians compared: the group must cost <= 1.05x.
2. For 4 and 16 workers and 100 and 1,000 versions, each version with a minute of traffic
   in every worker (a request and its latency per second, other latencies in each worker):
   the KiB of one worker's state file; one publication (encoding: the first, one with
   nothing changed, one after another second of traffic); a read of the group
   (``snapshot()``: the first, one with nothing changed, one after every worker published
   another second of traffic, the steady state), then ``get_all_metrics(60)`` and the
   Prometheus text of that snapshot, beside the same for one registry that saw all the
   traffic.
3. Freshness: seconds from a record in one member to its visibility in another, at the
   default interval of 1 s.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors.inference import InferenceCollector
from exporters.prometheus import PrometheusExporter
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceCompleted
from metrics_core.facade import Metrics
from metrics_core.query import all_version_metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.tags import Tags
from metrics_core.workers import WorkerGroupOptions
from metrics_core.workers._files import member_file, write_atomic
from metrics_core.workers._process import start_time
from metrics_core.workers._state_file import SketchCache, StateHeader, encode_state

_START = 1_700_000_000.0


def _timed(loop: Callable[[], object]) -> float:
    gc.disable()
    try:
        began = time.perf_counter()
        loop()
        return time.perf_counter() - began
    finally:
        gc.enable()


def hot_path(batch: int, repeats: int, versions: int) -> tuple[float, float]:
    """ns per event: a ``Metrics`` alone, and one in a worker group (publishing meanwhile)."""
    events = [
        InferenceCompleted(model_name="bert", version=f"v{i % versions}", duration_ms=10.0 + i % 90)
        for i in range(batch)
    ]
    alone = Metrics(bus=EventBus()).collect(InferenceCollector())
    with tempfile.TemporaryDirectory() as directory:
        options = WorkerGroupOptions(directory=directory, interval=1.0)
        grouped = Metrics(bus=EventBus(), multiproc=options).collect(InferenceCollector())
        runs = {"alone": alone, "group": grouped}
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for round_ in range(repeats + 1):
            for name, metrics in runs.items():
                emit = metrics.bus.emit
                seconds = _timed(lambda emit=emit: [emit(e) for e in events])  # type: ignore[misc]
                if round_:
                    samples[name].append(seconds)
        grouped.close()
    alone.close()
    one, two = (statistics.median(samples[n]) * 1e9 / batch for n in ("alone", "group"))
    return one, two


def _traffic(registries: list[AggregatingRegistry], tags: list[Tags], second: int) -> None:
    """One second of traffic: a request and a latency per version in every worker."""
    for worker, registry in enumerate(registries):
        for i, tag in enumerate(tags):
            registry.counter(names.REQUESTS_TOTAL, tag)
            registry.timer(names.LATENCY, tag, 5.0 + (second * 7 + i + worker * 13) % 400)


def merge_cost(workers: int, versions: int, seconds: int) -> dict[str, float]:
    """Seconds and bytes of publishing and reading a group of ``workers`` (see the docstring).

    Every worker has its own traffic (other latencies); one registry that saw all of it
    is the one-process baseline. The reader is the last worker.
    """
    clock = ManualClock(_START)
    limit = versions + 10
    registries = [
        AggregatingRegistry(clock=clock, max_series_per_metric=limit) for _ in range(workers)
    ]
    single = AggregatingRegistry(clock=clock, max_series_per_metric=limit)
    tags = [Tags({"model_name": "bert", "version": f"v{v}"}) for v in range(versions)]
    for second in range(seconds):
        clock.set(_START + second + 0.5)
        _traffic(registries, tags, second)
        _traffic_single(single, tags, second, workers)
    out: dict[str, float] = {}
    pid = os.getpid()
    caches = [SketchCache() for _ in registries]
    with tempfile.TemporaryDirectory() as directory:
        options = WorkerGroupOptions(directory=directory, interval=3600.0)
        reader = Metrics(bus=EventBus(), registry=registries[-1], multiproc=options)
        group = reader.worker_group
        assert group is not None
        header = StateHeader(0, group.group_id, pid, start_time(pid), 0, 0, _START, 1)

        def publish_others() -> list[float]:
            took = []
            for k, registry in enumerate(registries[:-1]):
                snapshot = registry.snapshot()
                began = time.perf_counter()
                blob = encode_state(header, snapshot.series, caches[k])
                caches[k].next_round()
                took.append(time.perf_counter() - began)
                name = member_file(f"{pid}-{start_time(pid)}-{900 + k}")
                write_atomic(Path(directory), name, blob, "bench")
                out["file_bytes"] = float(len(blob))
            return took

        out["encode_cold_s"] = statistics.median(publish_others())
        out["encode_warm_s"] = statistics.median(publish_others())  # nothing changed
        out["read_cold_s"] = _timed(reader.snapshot)
        out["read_warm_s"] = _timed(reader.snapshot)
        clock.set(_START + seconds + 0.5)  # one more second of traffic everywhere
        _traffic(registries, tags, seconds)
        _traffic_single(single, tags, seconds, workers)
        out["encode_next_s"] = statistics.median(publish_others())
        out["read_next_s"] = _timed(reader.snapshot)
        snapshot = reader.snapshot()
        out["query_s"] = _timed(lambda: all_version_metrics(snapshot, 60.0))
        prometheus = PrometheusExporter()
        out["render_s"] = _timed(lambda: prometheus.render(snapshot))
        check = snapshot.get(names.REQUESTS_TOTAL, {"model_name": "bert", "version": "v0"})
        assert check is not None and getattr(check, "total", 0) == workers * (seconds + 1)
        reader.close()
    one = single.snapshot()
    out["single_snapshot_s"] = _timed(single.snapshot)
    out["single_query_s"] = _timed(lambda: all_version_metrics(one, 60.0))
    out["single_render_s"] = _timed(lambda: PrometheusExporter().render(one))
    return out


def _traffic_single(
    single: AggregatingRegistry, tags: list[Tags], second: int, workers: int
) -> None:
    for worker in range(workers):
        for i, tag in enumerate(tags):
            single.counter(names.REQUESTS_TOTAL, tag)
            single.timer(names.LATENCY, tag, 5.0 + (second * 7 + i + worker * 13) % 400)


def freshness(trials: int) -> list[float]:
    """Seconds from a record in one member to its visibility in another (interval 1 s)."""
    out = []
    with tempfile.TemporaryDirectory() as directory:
        options = WorkerGroupOptions(directory=directory, interval=1.0)
        a = Metrics(bus=EventBus(), multiproc=options).collect(InferenceCollector())
        b = Metrics(bus=EventBus(), multiproc=options).collect(InferenceCollector())
        tags = {"model_name": "bert", "version": "v1"}
        for trial in range(1, trials + 1):
            time.sleep(0.37 * trial % 1.0)
            a.record_inference("bert", "v1", 10.0, success=True)
            began = time.perf_counter()
            while True:
                series = b.worker_group.snapshot(names=[names.REQUESTS_TOTAL], match=tags)  # type: ignore[union-attr]
                found = series.get(names.REQUESTS_TOTAL, tags)
                if found is not None and getattr(found, "total", 0) >= trial:
                    break
                time.sleep(0.005)
            out.append(time.perf_counter() - began)
        a.close()
        b.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the three sections; returns 1 when a hot path ratio misses its 1.05x target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args(argv)
    batch, repeats = (20_000, 7) if args.quick else (50_000, 15)
    ratios = []
    for versions in (6, 1_000):
        alone, grouped = hot_path(batch, repeats, versions)
        ratio = grouped / alone
        ratios.append(ratio)
        verdict = "ok" if ratio <= 1.05 else "MISSED"
        print(f"1. hot path, {versions} versions: alone {alone:,.0f} ns/event, "
              f"in a group {grouped:,.0f} ns/event, ratio {ratio:.3f}x "
              f"(target <= 1.05x: {verdict})")  # fmt: skip
    print("2. merge cost (ms; KiB of one worker's file):")
    print(f"   {'workers':>7} {'versions':>8} {'KiB':>6} {'enc 1st':>7} {'enc same':>8} "
          f"{'enc +1s':>7} {'read 1st':>8} {'read same':>9} {'read +1s':>8} {'query':>7} "
          f"{'render':>7} | {'1-proc snap':>11} {'query':>7} {'render':>7}")  # fmt: skip
    seconds = 20 if args.quick else 60
    sizes = [(4, 100), (16, 100)] if args.quick else [(4, 100), (16, 100), (4, 1000), (16, 1000)]
    for workers, versions in sizes:
        r = merge_cost(workers, versions, seconds)
        ms = {k: v * 1000 for k, v in r.items()}
        print(f"   {workers:>7} {versions:>8} {r['file_bytes'] / 1024:>6,.0f} "
              f"{ms['encode_cold_s']:>7.1f} {ms['encode_warm_s']:>8.1f} "
              f"{ms['encode_next_s']:>7.1f} "
              f"{ms['read_cold_s']:>8.1f} {ms['read_warm_s']:>9.1f} {ms['read_next_s']:>8.1f} "
              f"{ms['query_s']:>7.1f} {ms['render_s']:>7.1f} | {ms['single_snapshot_s']:>11.1f} "
              f"{ms['single_query_s']:>7.1f} {ms['single_render_s']:>7.1f}")  # fmt: skip
    delays = freshness(3 if args.quick else 8)
    print(f"3. freshness at interval 1 s: median {statistics.median(delays):.2f} s, "
          f"max {max(delays):.2f} s over {len(delays)} records")  # fmt: skip
    return 0 if max(ratios) <= 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())
