"""Exporting at shutdown: normal exit and SIGTERM in child processes, ShutdownHook in process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from structlog.testing import capture_logs

from metrics_core.bus import EventBus
from metrics_core.facade import Metrics
from metrics_core.registry import AggregatingRegistry
from metrics_core.shutdown import ShutdownHook

REPO_ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import sys
    import threading
    import time

    from collectors.inference import InferenceCollector
    from metrics_core.bus import EventBus
    from metrics_core.facade import Metrics
    from metrics_core.registry import AggregatingRegistry

    # argv: output file, exporters ("file", "hang" or "file,hang"), then "exit", "wait"
    # or "export" (block in an export() that a hanging exporter never lets finish), and
    # optionally the seconds the file exporter takes between opening and writing.
    out_path, exporter_kinds, then = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
    write_delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0


    class FileExporter:
        def export(self, snapshot):
            total = sum(s.total for s in snapshot.find("model_inference_requests_total"))
            with open(out_path, "w") as out:
                time.sleep(write_delay)
                out.write(str(int(total)))

        def close(self):
            pass


    class HangingExporter:
        def export(self, snapshot):
            if then == "export":
                print("ready", flush=True)  # the main thread now holds the export lock
            threading.Event().wait()

        def close(self):
            threading.Event().wait()


    metrics = Metrics(bus=EventBus(), registry=AggregatingRegistry(), export_timeout=60)
    metrics.collect(InferenceCollector())
    for kind in exporter_kinds:
        metrics.export_to(FileExporter() if kind == "file" else HangingExporter())
    for i in range(37):
        metrics.record_inference("bert", "v1", 10.0, success=True)
    for i in range(5):
        metrics.record_inference("bert", "v2", 20.0, success=False, error_type="Timeout")
    metrics.export_on_shutdown(deadline=2)
    if then == "wait":
        print("ready", flush=True)
        time.sleep(60)
    elif then == "export":
        metrics.export()
    """
)


@pytest.fixture
def child_script(tmp_path: Path) -> Path:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return script


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    return env


def start_child(
    script: Path, out: Path, exporter: str, then: str, write_delay: float = 0.0
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), str(out), exporter, then, str(write_delay)],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=5)


def wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        _, err = process.communicate(timeout=5)
        pytest.fail(f"child did not get ready: {line!r}\n{err}")


def test_normal_exit_exports_the_exact_count(
    tmp_path: Path, child_script: Path, children: list[subprocess.Popen[str]]
) -> None:
    out = tmp_path / "count.txt"
    process = start_child(child_script, out, "file", "exit")
    children.append(process)

    _, err = process.communicate(timeout=20)

    assert process.returncode == 0, err
    assert out.read_text() == "42"


def test_sigterm_exports_then_dies_by_sigterm(
    tmp_path: Path, child_script: Path, children: list[subprocess.Popen[str]]
) -> None:
    out = tmp_path / "count.txt"
    process = start_child(child_script, out, "file", "wait")
    children.append(process)
    wait_ready(process)

    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=10)

    assert process.returncode == -signal.SIGTERM, err
    assert out.read_text() == "42"


def test_sigterm_with_a_hanging_exporter_ends_within_the_deadline(
    tmp_path: Path, child_script: Path, children: list[subprocess.Popen[str]]
) -> None:
    out = tmp_path / "count.txt"
    process = start_child(child_script, out, "hang", "wait")
    children.append(process)
    wait_ready(process)

    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=2 + 3)
    except subprocess.TimeoutExpired:
        pytest.fail("the child outlived its shutdown deadline + 3 s")

    assert time.monotonic() - began < 5.0
    assert process.returncode == -signal.SIGTERM
    assert not out.exists()


def test_normal_exit_with_a_hanging_exporter_ends_within_the_deadline(
    tmp_path: Path, child_script: Path, children: list[subprocess.Popen[str]]
) -> None:
    process = start_child(child_script, tmp_path / "count.txt", "hang", "exit")
    children.append(process)

    try:
        process.wait(timeout=10 + 2 + 3)  # interpreter start-up, then deadline + 3 s
    except subprocess.TimeoutExpired:
        pytest.fail("the child hung at exit")

    assert process.returncode == 0


def test_sigterm_while_the_main_thread_is_exporting_still_ends(
    tmp_path: Path, child_script: Path, children: list[subprocess.Popen[str]]
) -> None:
    # The handler interrupts the main thread while it holds the export lock.
    process = start_child(child_script, tmp_path / "count.txt", "file,hang", "export")
    children.append(process)
    wait_ready(process)

    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=2 + 3)
    except subprocess.TimeoutExpired:
        pytest.fail("the child outlived its shutdown deadline + 3 s")

    assert process.returncode == -signal.SIGTERM


def test_sigterm_while_the_main_thread_is_exporting_gives_healthy_exporters_time(
    tmp_path: Path, child_script: Path, children: list[subprocess.Popen[str]]
) -> None:
    out = tmp_path / "count.txt"
    process = start_child(child_script, out, "file,hang", "export", write_delay=0.25)
    children.append(process)
    wait_ready(process)

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=2 + 3)

    assert out.read_text() == "42"


# -- in process --------------------------------------------------------------------------


def test_export_on_shutdown_rejects_a_bad_deadline() -> None:
    metrics = Metrics(bus=EventBus(), registry=AggregatingRegistry())
    with pytest.raises(ValueError, match="'deadline'"):
        metrics.export_on_shutdown(deadline=0)
    metrics.close()


def test_hook_runs_its_action_once() -> None:
    calls: list[int] = []
    hook = ShutdownHook(lambda: calls.append(1))

    hook.run()
    hook.run()

    assert calls == [1]


def test_hook_logs_an_action_that_raises() -> None:
    def broken() -> None:
        raise RuntimeError("export failed")

    hook = ShutdownHook(broken)
    with capture_logs() as logs:
        hook.run()

    assert [entry["event"] for entry in logs] == ["shutdown_export_failed"]


def test_sigterm_runs_the_action_then_the_previous_handler() -> None:
    order: list[str] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        order.append("previous")

    original = signal.signal(signal.SIGTERM, previous)
    try:
        hook = ShutdownHook(lambda: order.append("action"))
        hook.install()
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 2.0
            while len(order) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            hook.uninstall()
        assert order == ["action", "previous"]
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, original)


def test_install_from_another_thread_skips_the_signal_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    hook = ShutdownHook(lambda: None)
    with capture_logs() as logs:
        thread = threading.Thread(target=hook.install)
        thread.start()
        thread.join()
    try:
        assert signal.getsignal(signal.SIGTERM) == before
        assert [entry["event"] for entry in logs] == ["sigterm_hook_skipped"]
    finally:
        hook.uninstall()


def test_sigterm_handler_waits_at_most_wait_for_a_hung_action() -> None:
    gate = threading.Event()
    called: list[float] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        called.append(time.monotonic())

    original = signal.signal(signal.SIGTERM, previous)
    try:
        hook = ShutdownHook(gate.wait, wait=0.2)
        hook.install()
        try:
            began = time.monotonic()
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 3.0
            while not called and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            hook.uninstall()
            gate.set()
        assert len(called) == 1
        assert 0.15 <= called[0] - began < 2.0
    finally:
        signal.signal(signal.SIGTERM, original)
