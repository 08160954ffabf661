"""``inference-metrics serve`` and ``--version``, run as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from integrations.sidecar_cli import package_version

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
COMMAND = [sys.executable, "-m", "integrations.cli"]


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_version_prints_the_package_version() -> None:
    done = subprocess.run(
        [*COMMAND, "--version"], capture_output=True, text=True, env=ENV, check=False, timeout=60
    )

    assert (done.returncode, done.stdout) == (0, f"inference-metrics {package_version()}\n")
    assert package_version() != "unknown"  # the shared virtualenv has the package installed


def test_serve_exposes_host_metrics_and_the_dashboard_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [*COMMAND, "serve", "--port", "0", "--system", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("serving http://127.0.0.1:"), first
        base = first.split()[1].removesuffix("/metrics")
        deadline = time.monotonic() + 20
        families: dict[str, object] = {}
        while "system_cpu_percent" not in families and time.monotonic() < deadline:
            status, text = fetch(base + "/metrics")
            assert status == 200
            families = {f.name: f for f in text_string_to_metric_families(text)}
            time.sleep(0.1)
        assert {"system_cpu_percent", "process_memory_rss_bytes"} <= families.keys()
        dashboard_status, page = fetch(base + "/dashboard")
        assert dashboard_status == 200 and "<html" in page.lower()

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, err
    assert out == "stopped\n"
    assert "Traceback" not in err


def test_serve_without_a_free_port_exits_2_naming_it() -> None:
    with subprocess.Popen(
        [*COMMAND, "serve", "--port", "0"], stdout=subprocess.PIPE, text=True, env=ENV
    ) as first:
        assert first.stdout is not None
        port = first.stdout.readline().split(":")[2].split("/")[0]
        done = subprocess.run(
            [*COMMAND, "serve", "--port", port],
            capture_output=True,
            text=True,
            env=ENV,
            check=False,
            timeout=60,
        )
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=20)

    assert done.returncode == 2
    assert done.stdout.startswith(f"cannot serve on 127.0.0.1:{port}: ")
    assert first.returncode == 0
