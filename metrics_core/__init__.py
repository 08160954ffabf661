"""inference-metrics core: events, bus, values, registries, snapshots, queries, the facade."""

from metrics_core.async_export import AsyncExporter
from metrics_core.bus import EventBus, default_bus
from metrics_core.clock import ManualClock
from metrics_core.compare import Comparison
from metrics_core.control import RecordingControl
from metrics_core.exporting import Exporter, ExportOutcome, PullExporter, SnapshotSource
from metrics_core.facade import Metrics
from metrics_core.history import HistorySource, HistoryStore, Rollup
from metrics_core.query import VersionMetrics
from metrics_core.registry import AggregatingRegistry, RawRegistry, Registry
from metrics_core.sampling import Sampling
from metrics_core.shedding import LoadShedding
from metrics_core.snapshot import (
    CounterSeries,
    DistributionSeries,
    GaugeSeries,
    Snapshot,
    WindowSummary,
)
from metrics_core.stats import Verdict
from metrics_core.stopwatch import Stopwatch
from metrics_core.tags import Tags
from metrics_core.values import Counter, Gauge, Histogram, MetricKind, Timer
from metrics_core.workers import WorkerGroupOptions

__all__ = [
    "AggregatingRegistry",
    "AsyncExporter",
    "Comparison",
    "Counter",
    "CounterSeries",
    "DistributionSeries",
    "EventBus",
    "ExportOutcome",
    "Exporter",
    "Gauge",
    "GaugeSeries",
    "Histogram",
    "HistorySource",
    "HistoryStore",
    "LoadShedding",
    "ManualClock",
    "MetricKind",
    "Metrics",
    "PullExporter",
    "RawRegistry",
    "RecordingControl",
    "Registry",
    "Rollup",
    "Sampling",
    "Snapshot",
    "SnapshotSource",
    "Stopwatch",
    "Tags",
    "Timer",
    "Verdict",
    "VersionMetrics",
    "WindowSummary",
    "WorkerGroupOptions",
    "default_bus",
]
