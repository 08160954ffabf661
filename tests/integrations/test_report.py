"""``inference-metrics report``: a per-version table read from a history store alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from collectors import InferenceCollector
from exporters import SQLiteStore
from integrations.cli import main
from metrics_core import EventBus, ManualClock, Metrics
from metrics_core.sketch import BucketData

T0 = 1_700_000_040.0
REPO_ROOT = Path(__file__).resolve().parents[2]


def _write_day(path: Path) -> list[float]:
    clock = ManualClock(T0)
    metrics = Metrics(bus=EventBus(), clock=clock, history=SQLiteStore(path))
    metrics.collect(InferenceCollector())
    values = []
    for minute in range(24 * 60):
        clock.set(T0 + minute * 60 + 1)
        value = 5.0 + minute % 50
        metrics.record_inference("bert", "v1", value, success=True)
        values.append(value)
        if minute % 2:
            metrics.record_inference("bert", "v2", 40.0, success=False, error_type="oom")
        if minute % 30 == 29:
            metrics.export()
    clock.set(T0 + 24 * 3600)
    metrics.close()
    return values


def test_report_prints_every_version_from_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "history.db"
    values = _write_day(db)
    until = T0 + 24 * 3600
    assert main(["report", "--db", str(db), "--since", "24h", "--until", str(until)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("2 versions over the 24h before ")
    header, v1, v2 = out[1], out[2], out[3]
    assert header.split()[:2] == ["MODEL", "VERSION"]
    assert v1.split()[:2] == ["bert", "v1"] and v2.split()[:2] == ["bert", "v2"]
    assert "1,440" in v1.split() and "720" in v2.split()
    p99 = BucketData.of(values).quantile(0.99)
    assert f"{p99:.1f}" in v1.split()
    assert "100.00" in v2.split()  # ERR %


def test_report_as_a_command_and_its_errors(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    _write_day(db)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "integrations.cli",
            "report",
            "--db",
            str(db),
            "--since",
            "1d",
            "--until",
            str(T0 + 24 * 3600),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "bert" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "integrations.cli", "report", "--db", str(db), "--since", "soon"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert bad.returncode == 2
    assert "'since' must be a duration" in bad.stderr
    assert main(["report", "--db", str(tmp_path / "missing.db")]) == 2
    assert not (tmp_path / "missing.db").exists()
