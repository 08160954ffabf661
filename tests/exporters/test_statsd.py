"""StatsDExporter and DogStatsDExporter against the original StatsD daemon and a raw UDP socket.

The daemon (npm ``statsd@0.9.0``, installed by ``scripts/install-test-servers.sh``)
runs with a console backend and a one-hour flush, so its management port's
``counters`` and ``gauges`` commands show exactly what arrived. It folds
DogStatsD tags into the key as ``name;k=v``, which is also the key plain StatsD
sends in the default ``graphite`` tag style. Tests that need the bytes on the
wire (packet sizes, exact lines) read a UDP socket of their own instead.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from collectors import InferenceCollector
from exporters import DogStatsDExporter, StatsDExporter
from exporters._dogstatsd_target import Target
from exporters.statsd import SendReport, StatsDSendError
from metrics_core import names
from metrics_core.bus import EventBus
from metrics_core.clock import ManualClock
from metrics_core.facade import Metrics
from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.snapshot import CounterSeries, DistributionSeries, Snapshot

STATS_JS = (
    Path(__file__).resolve().parents[2]
    / ".test-servers"
    / "statsd"
    / "node_modules"
    / "statsd"
    / "stats.js"
)
V1 = {"model_name": "bert", "version": "v1"}
V2 = {"model_name": "bert", "version": "v2"}
G_V1 = ";model_name=bert;version=v1"
G_V2 = ";model_name=bert;version=v2"
DD_ENVIRONMENT = (
    "DATADOG_TAGS",
    "DD_ENV",
    "DD_SERVICE",
    "DD_VERSION",
    "DD_ENTITY_ID",
    "DD_EXTERNAL_ENV",
    "DD_DOGSTATSD_DISABLE",
    "DD_AGENT_HOST",
    "DD_DOGSTATSD_PORT",
    "DD_DOGSTATSD_URL",
)

STATS = ("avg", "p50", "p95", "p99", "max")

Exporter = StatsDExporter | DogStatsDExporter


# -- the daemon ---------------------------------------------------------------------------

# An entry of util.inspect's rendering of a JS object: 'quoted key' or identifier, then a number.
_ENTRY = re.compile(
    r"(?:'(?P<quoted>[^']*)'|(?P<bare>[A-Za-z_$][\w$]*)):\s*"
    r"(?P<value>NaN|-?Infinity|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
)


class StatsDDaemon:
    """The running daemon: its UDP port and what its management port shows."""

    def __init__(self, port: int, mgmt_port: int, wait_until: Callable[..., Any]) -> None:
        self.port = port
        self.mgmt_port = mgmt_port
        self._wait_until = wait_until

    def command(self, command: str) -> str:
        with socket.create_connection(("127.0.0.1", self.mgmt_port), timeout=5) as conn:
            conn.sendall(command.encode() + b"\n")
            data = b""
            while not data.endswith(b"END\n\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def _values(self, command: str) -> dict[str, float]:
        return {
            match["quoted"] or match["bare"]: float(match["value"])
            for match in _ENTRY.finditer(self.command(command))
        }

    def counters(self) -> dict[str, float]:
        """Every counter we sent, without the daemon's own ``statsd.*`` counters."""
        return {k: v for k, v in self._values("counters").items() if not k.startswith("statsd.")}

    def gauges(self) -> dict[str, float]:
        return self._values("gauges")

    def own(self, name: str) -> int:
        return int(self._values("counters")[f"statsd.{name}"])

    def wait_for(self, packets: int) -> None:
        """Wait until ``packets`` packets in all have been read (UDP is read asynchronously)."""
        self._wait_until(
            lambda: self.own("packets_received") >= packets, what=f"{packets} packets at statsd"
        )
        assert self.own("packets_received") == packets
        assert self.own("bad_lines_seen") == 0


@pytest.fixture
def daemon(
    tmp_path: Path,
    free_port: Callable[[], int],
    wait_until: Callable[..., Any],
    spawn: Callable[..., Any],
) -> StatsDDaemon:
    node = shutil.which("node")
    if node is None or not STATS_JS.exists():
        pytest.skip("the StatsD daemon is not installed: run scripts/install-test-servers.sh")
    port = free_port()
    mgmt_port = free_port()
    while mgmt_port == port:
        mgmt_port = free_port()
    config = {
        "port": port,
        "address": "127.0.0.1",
        "mgmt_port": mgmt_port,
        "mgmt_address": "127.0.0.1",
        "backends": ["./backends/console"],
        "dumpMessages": True,
        "flushInterval": 3_600_000,
    }
    path = tmp_path / "statsd-config.js"
    path.write_text(json.dumps(config))
    spawn(node, str(STATS_JS), str(path), name="statsd")
    server = StatsDDaemon(port, mgmt_port, wait_until)
    wait_until(lambda: "END" in server.command("counters"), what="the statsd management port")
    return server


# -- a raw receiver -----------------------------------------------------------------------


class Receiver:
    """A UDP socket on 127.0.0.1 that returns the packets it holds."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]

    def packets(self) -> list[bytes]:
        # Loopback delivers a datagram before send() returns: no waiting needed.
        packets = []
        while True:
            try:
                packets.append(self.sock.recv(65536, socket.MSG_DONTWAIT))
            except BlockingIOError:
                return packets

    def lines(self) -> list[str]:
        return [line for p in self.packets() for line in p.decode().split("\n") if line]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.sock.close()


@pytest.fixture(autouse=True)
def no_datadog_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client adds tags from these; a test must not depend on the machine's."""
    for variable in DD_ENVIRONMENT:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def metrics(registry: AggregatingRegistry) -> Iterator[Metrics]:
    metrics = Metrics(bus=EventBus(), registry=registry).collect(InferenceCollector())
    yield metrics
    metrics.close()


def dog(port: int, **options: Any) -> DogStatsDExporter:
    """A DogStatsDExporter whose lines do not depend on the machine it runs on."""
    return DogStatsDExporter(port=port, origin_detection=False, **options)


def closed_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on (it was bound a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def window_stats(snapshot: Snapshot, tags: Mapping[str, str], window: float) -> list[float]:
    """p50, p95, p99 and max of the latency over ``window`` as the sketch answers them."""
    series = snapshot.get(names.LATENCY, tags)
    assert isinstance(series, DistributionSeries)
    summary = series.window_summary(window, snapshot.taken_at)
    return [*summary.quantiles(0.5, 0.95, 0.99), summary.maximum]


def stat_gauges(key: str, tags: str, avg: float, stats: list[float]) -> dict[str, float]:
    """The gauges of one latency series, rounded as the exporter rounds them."""
    values = [avg, *(float(format(v, ".15g")) for v in stats)]
    return {f"{key}.{s}{tags}": v for s, v in zip(STATS, values, strict=True)}


def record_two_versions(metrics: Metrics) -> None:
    metrics.record_inference("bert", "v1", latency_ms=10.0, success=True)
    metrics.record_inference("bert", "v1", latency_ms=30.0, success=True)
    metrics.record_inference("bert", "v1", latency_ms=20.0, success=False, error_type="timeout")
    metrics.record_inference("bert", "v2", latency_ms=40.0, success=True)
    metrics.record_active_connections("bert", "v1", 3)
    metrics.record_memory_usage("bert", "v2", 1_500_000_000)


# -- against the daemon -------------------------------------------------------------------


def test_statsd_counters_gauges_and_latency_stats_reach_the_daemon(
    daemon: StatsDDaemon, metrics: Metrics
) -> None:
    exporter = StatsDExporter(port=daemon.port)
    metrics.export_to(exporter)
    record_two_versions(metrics)

    outcomes = metrics.export()
    daemon.wait_for(1)

    assert [(o.exporter, o.status) for o in outcomes] == [("StatsDExporter", "ok")]
    report = exporter.last_send
    assert report is not None and (report.lines, report.packets, report.errors) == (17, 1, 0)
    assert daemon.counters() == {
        f"model_inference_requests_total{G_V1}": 3,
        f"model_inference_errors_total{G_V1};error_type=timeout": 1,
        f"model_inference_latency.count{G_V1}": 3,
        f"model_inference_requests_total{G_V2}": 1,
        f"model_inference_latency.count{G_V2}": 1,
    }
    snapshot = metrics.snapshot()
    assert daemon.gauges() == {
        f"model_active_connections{G_V1}": 3,
        f"model_memory_usage_bytes{G_V2}": 1_500_000_000,
        **stat_gauges("model_inference_latency", G_V1, 20, window_stats(snapshot, V1, 60)),
        **stat_gauges("model_inference_latency", G_V2, 40, [40, 40, 40, 40]),
    }
    # The sketch is within 1 % of the interpolated quantiles of 10, 20, 30; max is exact.
    *sketched, maximum = window_stats(snapshot, V1, 60)
    assert all(abs(s - q) / q < 0.01 for s, q in zip(sketched, (20, 29, 29.8), strict=True))
    assert maximum == 30


def test_statsd_sends_deltas_across_exports(
    daemon: StatsDDaemon, metrics: Metrics, clock: ManualClock
) -> None:
    exporter = StatsDExporter(port=daemon.port)
    metrics.export_to(exporter)
    for _ in range(2):
        metrics.record_inference("bert", "v1", latency_ms=10.0, success=True)
    metrics.export()
    clock.advance(10)
    for _ in range(3):
        metrics.record_inference("bert", "v1", latency_ms=50.0, success=True)
    metrics.export()
    clock.advance(10)
    metrics.export()  # nothing new: nothing to send
    daemon.wait_for(2)

    # Totals instead of deltas would read 2 + 5 = 7.
    assert daemon.counters() == {
        f"model_inference_requests_total{G_V1}": 5,
        f"model_inference_latency.count{G_V1}": 5,
    }
    # avg and max cover the 10 s since the previous export only.
    assert daemon.gauges()[f"model_inference_latency.avg{G_V1}"] == 50
    assert daemon.gauges()[f"model_inference_latency.max{G_V1}"] == 50
    assert exporter.last_send == SendReport(lines=0, packets=0, bytes=0, errors=0)


def test_statsd_negative_gauge_replaces_the_previous_value(
    daemon: StatsDDaemon, registry: AggregatingRegistry
) -> None:
    exporter = StatsDExporter(port=daemon.port)
    registry.gauge("drift_score", V1, 5.0)
    exporter.export(registry.snapshot())
    registry.gauge("drift_score", V1, -2.5)
    exporter.export(registry.snapshot())
    daemon.wait_for(2)

    # Sent alone, "-2.5|g" would have moved the gauge from 5 to 2.5.
    assert daemon.gauges() == {f"drift_score{G_V1}": -2.5}


def test_statsd_suffix_tags_append_values_to_the_path(
    daemon: StatsDDaemon, metrics: Metrics
) -> None:
    metrics.export_to(StatsDExporter(port=daemon.port, prefix="app", tags="suffix"))
    metrics.record_inference("bert", "v1", latency_ms=8.0, success=False, error_type="oom")
    metrics.registry.gauge("drift_score", {"model_name": "bert", "version": "1.2 beta"}, 0.5)

    metrics.export()
    daemon.wait_for(1)

    assert daemon.counters() == {
        "app.model_inference_requests_total.bert.v1": 1,
        "app.model_inference_errors_total.bert.v1.oom": 1,
        "app.model_inference_latency.bert.v1.count": 1,
    }
    assert daemon.gauges() == {
        "app.drift_score.bert.1_2_beta": 0.5,
        **{f"app.model_inference_latency.bert.v1.{s}": 8 for s in ("avg", "p50", "p95", "p99")},
        "app.model_inference_latency.bert.v1.max": 8,
    }


def test_dogstatsd_tags_arrive_folded_into_the_key(daemon: StatsDDaemon, metrics: Metrics) -> None:
    exporter = dog(daemon.port, constant_tags={"env": "test"})
    metrics.export_to(exporter)
    record_two_versions(metrics)
    metrics.registry.gauge("drift_score", V2, -0.25)

    outcomes = metrics.export()
    daemon.wait_for(1)

    assert [(o.exporter, o.status) for o in outcomes] == [("DogStatsDExporter", "ok")]
    env = ";env=test"
    assert daemon.counters() == {
        f"model_inference_requests_total{G_V1}{env}": 3,
        f"model_inference_errors_total{G_V1};error_type=timeout{env}": 1,
        f"model_inference_latency.count{G_V1}{env}": 3,
        f"model_inference_requests_total{G_V2}{env}": 1,
        f"model_inference_latency.count{G_V2}{env}": 1,
    }
    snapshot = metrics.snapshot()
    assert daemon.gauges() == {
        f"model_active_connections{G_V1}{env}": 3,
        f"model_memory_usage_bytes{G_V2}{env}": 1_500_000_000,
        f"drift_score{G_V2}{env}": -0.25,
        **stat_gauges("model_inference_latency", G_V1 + env, 20, window_stats(snapshot, V1, 60)),
        **stat_gauges("model_inference_latency", G_V2 + env, 40, [40, 40, 40, 40]),
    }
    report = exporter.last_send
    assert report is not None and (report.lines, report.packets, report.errors) == (18, 1, 0)


def test_dogstatsd_sends_deltas_across_exports(
    daemon: StatsDDaemon, metrics: Metrics, clock: ManualClock
) -> None:
    metrics.export_to(dog(daemon.port, constant_tags=["team:ml"]))
    metrics.record_inference("bert", "v1", latency_ms=10.0, success=True)
    metrics.export()
    clock.advance(30)
    for _ in range(4):
        metrics.record_inference("bert", "v1", latency_ms=30.0, success=True)
    metrics.export()
    daemon.wait_for(2)

    assert daemon.counters() == {
        f"model_inference_requests_total{G_V1};team=ml": 5,
        f"model_inference_latency.count{G_V1};team=ml": 5,
    }
    assert daemon.gauges()[f"model_inference_latency.avg{G_V1};team=ml"] == 30


@pytest.mark.parametrize("kind", ["statsd", "dogstatsd"])
def test_many_series_arrive_in_several_packets(
    daemon: StatsDDaemon, metrics: Metrics, kind: str
) -> None:
    exporter = StatsDExporter(port=daemon.port) if kind == "statsd" else dog(daemon.port)
    versions = [f"v{n}" for n in range(100)]
    for version in versions:
        metrics.record_inference("bert", version, latency_ms=5.0, success=True)

    exporter.export(metrics.snapshot())
    report = exporter.last_send
    assert report is not None
    daemon.wait_for(report.packets)

    assert report.lines == 100 * 7
    assert report.packets > 30  # 700 lines of 70 to 100 bytes in packets of 1,432 bytes
    assert daemon.counters() == {
        **{f"model_inference_requests_total;model_name=bert;version={v}": 1 for v in versions},
        **{f"model_inference_latency.count;model_name=bert;version={v}": 1 for v in versions},
    }
    assert len(daemon.gauges()) == 100 * 5


# -- on the wire --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["statsd", "dogstatsd"])
@pytest.mark.parametrize("limit", [200, 1432])
def test_packets_hold_whole_lines_and_stay_under_the_limit(
    receiver: Receiver, metrics: Metrics, kind: str, limit: int
) -> None:
    if kind == "statsd":
        exporter: Exporter = StatsDExporter(port=receiver.port, max_packet_size=limit)
    else:
        exporter = dog(receiver.port, max_packet_size=limit)
    for n in range(100):
        metrics.record_inference("llama", f"2024.{n}", latency_ms=n + 1.0, success=True)
        metrics.registry.gauge("drift_score", {"model_name": "llama", "version": f"2024.{n}"}, -n)

    exporter.export(metrics.snapshot())
    packets = receiver.packets()

    assert exporter.last_send == SendReport(
        lines=100 * 8, packets=len(packets), bytes=sum(map(len, packets)), errors=0
    )
    assert max(map(len, packets)) <= limit
    lines = [line for p in packets for line in p.decode().split("\n") if line]
    # Plain StatsD resets a negative gauge to 0 first: 99 of them (a drift of 0 is not negative).
    assert len(lines) == 100 * 8 + (99 if kind == "statsd" else 0)
    assert all(re.fullmatch(r"[^:|]+:-?[0-9.]+\|[cg](\|#[^|]+)?", line) for line in lines)
    # Each negative gauge with the line before it in its packet: for plain StatsD, its reset.
    negatives = [
        (in_packet[i - 1] if i else None, line)
        for in_packet in (packet.decode().split("\n") for packet in packets)
        for i, line in enumerate(in_packet)
        if ":-" in line
    ]
    assert len(negatives) == 99
    if kind == "statsd":
        assert all(before == line.split(":")[0] + ":0|g" for before, line in negatives)


def test_statsd_lines_on_the_wire(receiver: Receiver, registry: AggregatingRegistry) -> None:
    exporter = StatsDExporter(port=receiver.port)
    registry.counter(names.COST_TOTAL, V1, 0.1)
    registry.counter(names.COST_TOTAL, V1, 0.2)
    registry.gauge(names.IN_FLIGHT, V1, 0)
    registry.gauge("drift_score", {"model_name": "bert", "version": "1.2 beta:x"}, -1.5)
    registry.histogram(names.TOKEN_USAGE, {**V1, names.TOKEN_TYPE: "input"}, 128)

    exporter.export(registry.snapshot())

    assert receiver.lines() == [
        f"model_inference_cost_usd_total{G_V1}:0.3|c",  # 0.30000000000000004, rounded
        f"model_inference_in_flight{G_V1}:0|g",
        "drift_score;model_name=bert;version=1.2_beta_x:0|g",
        "drift_score;model_name=bert;version=1.2_beta_x:-1.5|g",
        f"gen_ai.client.token.usage.count{G_V1};gen_ai.token.type=input:1|c",
        *(
            f"gen_ai.client.token.usage.{stat}{G_V1};gen_ai.token.type=input:128|g"
            for stat in ("avg", "p50", "p95", "p99", "max")
        ),
    ]


def test_dogstatsd_lines_on_the_wire(receiver: Receiver, registry: AggregatingRegistry) -> None:
    exporter = dog(receiver.port, prefix="svc", constant_tags={"env": "prod"})
    registry.counter(names.ERRORS_TOTAL, {**V1, names.ERROR_TYPE: "rate limit"}, 2)
    registry.gauge("drift_score", V1, -1.5)

    exporter.export(registry.snapshot())

    assert receiver.lines() == [
        "svc.model_inference_errors_total:2|c|#model_name:bert,version:v1,error_type:rate_limit,env:prod",
        "svc.drift_score:-1.5|g|#model_name:bert,version:v1,env:prod",
    ]


@pytest.mark.parametrize("kind", ["statsd", "dogstatsd"])
def test_quantiles_cover_the_time_since_the_previous_export(
    receiver: Receiver, registry: AggregatingRegistry, clock: ManualClock, kind: str
) -> None:
    first_window = 30.0
    if kind == "statsd":
        exporter: Exporter = StatsDExporter(port=receiver.port, first_window=first_window)
    else:
        exporter = dog(receiver.port, first_window=first_window)
    registry.timer(names.LATENCY, V1, 1_000.0)
    clock.advance(40)  # past the first window: left out of the first export's max
    registry.timer(names.LATENCY, V1, 7.0)
    # Windows start at a slot boundary (10 s for this second window): the slot holding
    # the previous export is included, so these tests keep the 7 ms a slot away from it.
    clock.advance(5)
    exporter.export(registry.snapshot())
    first = receiver.lines()
    clock.advance(100)
    registry.timer(names.LATENCY, V1, 3.0)
    exporter.export(registry.snapshot())
    second = receiver.lines()

    def value(lines: list[str], stat: str) -> str:
        [line] = [line for line in lines if f"model_inference_latency.{stat}" in line]
        return line.split(":", 1)[1].split("|")[0]

    # count and avg cover everything since the previous export (here: since the start).
    assert (value(first, "count"), value(first, "avg"), value(first, "max")) == ("2", "503.5", "7")
    assert (value(second, "count"), value(second, "avg"), value(second, "max")) == ("1", "3", "3")


@pytest.mark.parametrize("kind", ["statsd", "dogstatsd"])
def test_a_counter_that_went_down_sends_its_new_total(receiver: Receiver, kind: str) -> None:
    exporter: Exporter = (
        StatsDExporter(port=receiver.port) if kind == "statsd" else dog(receiver.port)
    )
    before, after = AggregatingRegistry(), AggregatingRegistry()
    before.counter("jobs_total", V1, 5)
    before.timer("job_time", V1, 4.0)
    before.timer("job_time", V1, 6.0)
    after.counter("jobs_total", V1, 2)
    after.timer("job_time", V1, 9.0)

    exporter.export(before.snapshot())
    exporter.export(before.snapshot())  # no change: no counter line
    unchanged = receiver.lines()
    exporter.export(after.snapshot())  # a new registry: the series restarted

    assert [line.split("|")[0] for line in unchanged if "|c" in line] == [
        "jobs_total" + (G_V1 if kind == "statsd" else "") + ":5",
        "job_time.count" + (G_V1 if kind == "statsd" else "") + ":2",
    ]
    assert [line.split("|")[0] for line in receiver.lines() if "|c" in line] == [
        "jobs_total" + (G_V1 if kind == "statsd" else "") + ":2",
        "job_time.count" + (G_V1 if kind == "statsd" else "") + ":1",
    ]


def test_nothing_to_send_sends_no_packet(receiver: Receiver) -> None:
    exporter = StatsDExporter(port=receiver.port)

    exporter.export(AggregatingRegistry().snapshot())

    assert receiver.packets() == []
    assert exporter.last_send == SendReport(lines=0, packets=0, bytes=0, errors=0)


@pytest.mark.parametrize("kind", ["statsd", "dogstatsd"])
def test_close_then_export_opens_a_new_socket(receiver: Receiver, kind: str) -> None:
    exporter: Exporter = (
        StatsDExporter(port=receiver.port) if kind == "statsd" else dog(receiver.port)
    )
    registry = AggregatingRegistry()
    registry.gauge("up", {}, 1)
    exporter.export(registry.snapshot())
    exporter.close()
    exporter.export(registry.snapshot())
    exporter.close()

    assert receiver.lines() == ["up:1|g", "up:1|g"]


# -- send errors --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["statsd", "dogstatsd"])
@pytest.mark.parametrize("host", ["127.0.0.1", "no-such-host.invalid"])
def test_a_send_error_is_counted_and_never_reaches_the_app(
    registry: AggregatingRegistry, kind: str, host: str
) -> None:
    port = closed_port()
    exporter: Exporter = StatsDExporter(host, port) if kind == "statsd" else dog(port, host=host)
    # A resolver may be slow to say a name does not exist: give it time, then an error.
    metrics = Metrics(bus=EventBus(), registry=registry, export_timeout=60)
    metrics.collect(InferenceCollector()).export_to(exporter, name="udp")
    metrics.record_inference("bert", "v1", latency_ms=5.0, success=True)

    outcomes = metrics.export()
    metrics.export()

    [outcome] = outcomes
    assert (outcome.exporter, outcome.status) == ("udp", "error")
    assert outcome.error is not None and outcome.error.startswith("StatsDSendError(")
    errors = metrics.snapshot().get(
        names.EXPORT_ERRORS_TOTAL, {"exporter": "udp", "reason": "error"}
    )
    assert isinstance(errors, CounterSeries)
    assert errors.total == 2
    metrics.close()


@pytest.mark.parametrize("kind", ["statsd", "dogstatsd"])
def test_export_itself_raises_after_trying_every_packet(
    registry: AggregatingRegistry, kind: str
) -> None:
    port = closed_port()
    exporter: Exporter = (
        StatsDExporter(port=port, max_packet_size=200)
        if kind == "statsd"
        else dog(port, max_packet_size=200)
    )
    for n in range(20):
        registry.counter("jobs_total", {"model_name": "m", "version": f"v{n}"}, 1)

    with pytest.raises(StatsDSendError, match="Connection refused"):
        exporter.export(registry.snapshot())

    report = exporter.last_send
    assert report is not None
    # A refused datagram is reported by the next send, which fails: on loopback sends
    # alternate between sent and refused. The datadog client drops the socket after the
    # first error and sends the rest through one of its own, which the exporter cannot see.
    expected = (20, 2, 2) if kind == "statsd" else (20, 1, 1)
    assert (report.lines, report.packets, report.errors) == expected
    exporter.close()


def test_after_an_error_the_next_export_reconnects(registry: AggregatingRegistry) -> None:
    port = closed_port()
    exporter = StatsDExporter(port=port)
    registry.gauge("up", {}, 1)
    with pytest.raises(StatsDSendError):
        exporter.export(registry.snapshot())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", port))

        exporter.export(registry.snapshot())

        assert server.recv(100, socket.MSG_DONTWAIT) == b"up:1|g"
    assert exporter.last_send == SendReport(lines=1, packets=1, bytes=6, errors=0)


# -- construction -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tags": "dotted"}, "'tags' must be one of graphite, suffix: 'dotted'"),
        ({"port": 0}, "'port' must be an int from 1 to 65535: 0"),
        ({"port": True}, "'port' must be an int from 1 to 65535: True"),
        ({"max_packet_size": 63}, "'max_packet_size' must be from 64 to 65507 bytes: 63"),
        ({"max_packet_size": 65508}, "'max_packet_size' must be from 64 to 65507 bytes: 65508"),
        ({"max_packet_size": 512.0}, "'max_packet_size' must be an int: 512.0"),
        ({"first_window": 0}, "'window' must be > 0 seconds and finite: 0"),
    ],
)
def test_statsd_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        StatsDExporter(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port": 70000}, "'port' must be an int from 1 to 65535: 70000"),
        ({"max_packet_size": 10}, "'max_packet_size' must be from 64 to 65507 bytes: 10"),
        (
            {"constant_tags": "env:prod"},
            "'constant_tags' must be a mapping or strings, not one string: 'env:prod'",
        ),
    ],
)
def test_dogstatsd_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        DogStatsDExporter(**options)


def test_dogstatsd_without_datadog_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datadog.dogstatsd.base", None)

    with pytest.raises(ImportError, match=re.escape("pip install 'inference-metrics[statsd]'")):
        DogStatsDExporter()


def test_repr_names_the_target() -> None:
    assert repr(StatsDExporter("statsd.local", 9125, tags="suffix")) == (
        "StatsDExporter(host='statsd.local', port=9125, tags='suffix', max_packet_size=1432)"
    )
    assert repr(dog(8125)) == (
        "DogStatsDExporter(host='127.0.0.1', port=8125, max_packet_size=1432)"
    )


# -- Datadog's environment variables --------------------------------------------------------


def test_dd_agent_host_and_port_name_the_target(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver, registry: AggregatingRegistry
) -> None:
    monkeypatch.setenv("DD_AGENT_HOST", "127.0.0.1")
    monkeypatch.setenv("DD_DOGSTATSD_PORT", str(receiver.port))
    exporter = DogStatsDExporter(origin_detection=False)
    registry.counter(names.REQUESTS_TOTAL, V1, 3)

    exporter.export(registry.snapshot())

    assert exporter.target == Target(host="127.0.0.1", port=receiver.port)
    assert receiver.lines() == ["model_inference_requests_total:3|c|#model_name:bert,version:v1"]
    exporter.close()


def test_dd_dogstatsd_url_wins_over_host_and_port_and_arguments_win_over_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DD_AGENT_HOST", "agent")
    monkeypatch.setenv("DD_DOGSTATSD_PORT", "9000")
    monkeypatch.setenv("DD_DOGSTATSD_URL", "udp://dsd.local:8200")

    assert DogStatsDExporter().target == Target(host="dsd.local", port=8200)
    assert DogStatsDExporter(port=8300).target == Target(host="dsd.local", port=8300)
    assert DogStatsDExporter(host="mine").target == Target(host="mine", port=8200)
    monkeypatch.delenv("DD_DOGSTATSD_URL")
    assert DogStatsDExporter().target == Target(host="agent", port=9000)
    assert DogStatsDExporter("mine", 1234).target == Target(host="mine", port=1234)
    monkeypatch.delenv("DD_AGENT_HOST")
    monkeypatch.delenv("DD_DOGSTATSD_PORT")
    assert DogStatsDExporter().target == Target(host="127.0.0.1", port=8125)


def test_unix_socket_url_sends_over_a_unix_datagram_socket(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, registry: AggregatingRegistry
) -> None:
    path = str(tmp_path / "dsd.socket")
    agent = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    agent.bind(path)
    monkeypatch.setenv("DD_DOGSTATSD_URL", f"unix://{path}")
    exporter = DogStatsDExporter(origin_detection=False)
    registry.counter(names.REQUESTS_TOTAL, V1, 2)
    registry.gauge(names.ACTIVE_CONNECTIONS, V1, 5)

    exporter.export(registry.snapshot())

    packet = agent.recv(65536, socket.MSG_DONTWAIT).decode()
    assert packet.splitlines() == [
        "model_inference_requests_total:2|c|#model_name:bert,version:v1",
        "model_active_connections:5|g|#model_name:bert,version:v1",
    ]
    assert repr(exporter) == f"DogStatsDExporter(socket_path={path!r}, max_packet_size=1432)"
    assert exporter.last_send == SendReport(2, 1, len(packet), 0)
    exporter.close()
    agent.close()


def test_a_unix_socket_nobody_listens_on_raises_naming_it(
    tmp_path: Path, registry: AggregatingRegistry
) -> None:
    path = str(tmp_path / "absent.socket")
    exporter = DogStatsDExporter(socket_path=path, origin_detection=False)
    registry.counter(names.REQUESTS_TOTAL, V1, 1)

    with pytest.raises(StatsDSendError, match=f"send error\\(s\\) to unix://{path}, 0 packet"):
        exporter.export(registry.snapshot())


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DD_DOGSTATSD_URL", "tcp://agent:8125", "'DD_DOGSTATSD_URL' must be udp://host[:port]"),
        ("DD_DOGSTATSD_URL", "udp://agent:0", "'DD_DOGSTATSD_URL' must be udp://host[:port]"),
        ("DD_DOGSTATSD_PORT", "eighty", "'DD_DOGSTATSD_PORT' must be a port from 1 to 65535"),
    ],
)
def test_bad_datadog_variables_are_refused_naming_them(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as error:
        DogStatsDExporter()
    assert str(error.value).startswith(message)
    assert str(error.value).endswith(f": {value!r}")
