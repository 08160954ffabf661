"""What controlling recording costs per event, printed as one table.

``python benchmarks/control.py`` (``--quick`` for smaller batches). Every row is the
best of interleaved batches measured in this run, timed in CPU time of the
thread (``time.thread_time_ns``: on a shared machine, time spent preempted is not
ours), with the cyclic garbage collector paused in the timed loops:

1. an ``InferenceCompleted`` with 3 attributes of which the collector keeps 2,
   against the same event without attributes into a collector without dimensions;
2. ``enabled=False``: emitting into a switched-off ``Metrics`` against emitting on a
   bus nobody listens to (and ``record_inference`` against building the event);
3. sampling at 0.1 against 1.0, and a shedding budget that never trips, and a
   pass-through filter, each against the plain setup.

``--against DIR`` also times the plain hot path (built + emit, pre-built emit)
of the code in ``DIR`` (say a ``git archive`` of main) against this tree, in
alternating subprocesses (best of each), for the before/after of a change.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.environ.get("CONTROL_BENCH_TREE") or str(Path(__file__).parents[1]))

from collectors.inference import InferenceCollector
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.events import InferenceCompleted
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry

_START = 1_700_000_000.0
Runner = Callable[[], int]


@contextmanager
def _gc_paused() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _interleave(contenders: dict[str, Runner], repeats: int) -> dict[str, float]:
    """Best ns per batch of each contender, batches interleaved after one warm-up each.

    The best, not the median: on a shared machine the noise only ever adds time.
    """
    for run in contenders.values():
        run()
    times: dict[str, list[int]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            times[name].append(run())
    return {name: min(values) for name, values in times.items()}


def _metrics(**options: Any) -> Metrics:
    dimensions = options.pop("dimensions", ())
    registry = AggregatingRegistry(clock=ManualClock(_START))
    collector = InferenceCollector(dimensions=dimensions) if dimensions else InferenceCollector()
    return Metrics(bus=EventBus(), registry=registry, **options).collect(collector)


def _work(count: int) -> list[tuple[str, float, int]]:
    rng = random.Random(7)
    return [
        (rng.choice(("v1", "v2")), rng.lognormvariate(3, 0.6), rng.randint(1, 300))
        for _ in range(count)
    ]


def _built(bus: EventBus, work: list[tuple[str, float, int]], attributes: Any = None) -> Runner:
    extra = {} if attributes is None else {"attributes": attributes}

    def run() -> int:
        event = InferenceCompleted
        with _gc_paused():
            start = time.thread_time_ns()
            for version, ms, tokens in work:
                bus.emit(
                    event(
                        model_name="chat",
                        version=version,
                        duration_ms=ms,
                        output_tokens=tokens,
                        **extra,
                    )
                )
            return time.thread_time_ns() - start

    return run


def _prebuilt(bus: EventBus, events: list[InferenceCompleted]) -> Runner:
    def run() -> int:
        emit = bus.emit
        with _gc_paused():
            start = time.thread_time_ns()
            for event in events:
                emit(event)
            return time.thread_time_ns() - start

    return run


def _events(work: list[tuple[str, float, int]], **extra: Any) -> list[InferenceCompleted]:
    return [
        InferenceCompleted(
            model_name="chat",
            version=v,
            duration_ms=ms,
            output_tokens=t,
            request_id=f"r{i}",
            **extra,
        )
        for i, (v, ms, t) in enumerate(work)
    ]


def plain_hot_path(batch: int, repeats: int) -> dict[str, float]:
    """ns/event of the plain hot path (APIs that exist before this change too)."""
    work = _work(batch)
    metrics = _metrics()
    found = _interleave(
        {"built": _built(metrics.bus, work), "prebuilt": _prebuilt(metrics.bus, _events(work))},
        repeats,
    )
    return {name: ns / batch for name, ns in found.items()}


def control_rows(batch: int, repeats: int) -> list[tuple[str, float, float]]:
    """``(measure, ns/event, ns/event of its reference)`` for each cost."""
    from metrics_core.sampling import Sampling
    from metrics_core.shedding import LoadShedding

    work = _work(batch)
    three = {"provider": "openai", "tenant": "acme", "user": "u-17"}
    plain = _metrics()
    kept = _metrics(dimensions=("provider", "tenant"))
    ns = _interleave(
        {
            "none": _built(plain.bus, work),
            "three_kept_two": _built(kept.bus, work, three),
            "three_kept_none": _built(plain.bus, work, three),
        },
        repeats,
    )
    quiet_bus = EventBus()
    off = _metrics(enabled=False)
    events = _events(work)
    off_ns = _interleave(
        {
            "no_listener": _prebuilt(quiet_bus, events),
            "disabled": _prebuilt(off.bus, events),
            "record_off": _record(off, work),
        },
        repeats,
    )
    sampled = _metrics(sampling=Sampling(requests=0.1))
    full = _metrics()
    shed = _metrics(shedding=LoadShedding(1e12))
    filtered = _metrics(filters=[lambda event: event])
    cost = _interleave(
        {
            "full": _prebuilt(full.bus, events),
            "sampled": _prebuilt(sampled.bus, events),
            "shedding": _prebuilt(shed.bus, events),
            "filter": _prebuilt(filtered.bus, events),
        },
        repeats,
    )
    per = {k: v / batch for k, v in {**ns, **off_ns, **cost}.items()}
    return [
        ("3 attributes, 2 kept as dimensions (built + emit)", per["three_kept_two"], per["none"]),
        ("3 attributes, collector keeps none (built + emit)", per["three_kept_none"], per["none"]),
        ("enabled=False, pre-built emit", per["disabled"], per["no_listener"]),
        ("enabled=False, record_inference", per["record_off"], per["no_listener"]),
        ("sampling 0.1 (requests), pre-built emit", per["sampled"], per["full"]),
        ("shedding budget never reached, pre-built emit", per["shedding"], per["full"]),
        ("one pass-through filter, pre-built emit", per["filter"], per["full"]),
    ]


def _record(metrics: Metrics, work: list[tuple[str, float, int]]) -> Runner:
    def run() -> int:
        record = metrics.record_inference
        with _gc_paused():
            start = time.thread_time_ns()
            for version, ms, _ in work:
                record("chat", version, ms, True)
            return time.thread_time_ns() - start

    return run


def _against(tree: str, batch: int, repeats: int) -> list[tuple[str, float, float]]:
    """Plain hot path here vs in ``tree``, alternating subprocesses, best of each."""
    here = str(Path(__file__).parents[1])
    results: dict[str, list[dict[str, float]]] = {"here": [], "there": []}
    for _ in range(repeats):
        for name, root in (("there", tree), ("here", here)):
            env = {**os.environ, "CONTROL_BENCH_TREE": root, "PYTHONPATH": root}
            out = subprocess.run(
                [sys.executable, __file__, "--plain-json", "--batch", str(batch)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[name].append(json.loads(out))
    rows = []
    for key, label in (
        ("built", "plain hot path, built + emit"),
        ("prebuilt", "plain hot path, pre-built emit"),
    ):
        here_ns = min(r[key] for r in results["here"])
        there_ns = min(r[key] for r in results["there"])
        rows.append((f"{label} (this tree vs {Path(tree).name})", here_ns, there_ns))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches")
    parser.add_argument("--against", metavar="DIR", help="a tree to compare the hot path with")
    parser.add_argument("--plain-json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    batch = args.batch or (10_000 if args.quick else 50_000)
    repeats = 5 if args.quick else 7
    if args.plain_json:
        print(json.dumps(plain_hot_path(batch, 3)))
        return 0
    print(
        f"python {sys.version.split()[0]}; {batch:,} events per batch, {repeats} interleaved "
        "repeats, best batch; gc paused in timed loops"
    )
    rows = control_rows(batch, repeats)
    if args.against:
        rows += _against(args.against, batch, repeats)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}} | ns/event | reference | ratio")
    print(f"{'-' * width}-+----------+-----------+------")
    for measure, ns, reference in rows:
        print(f"{measure:<{width}} | {ns:8,.0f} | {reference:9,.0f} | {ns / reference:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
