"""The library's loggers: stdlib ``logging`` unless the app configured structlog; never stdout."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from metrics_core.bus import EventBus
from metrics_core.events import InferenceCompleted
from metrics_core.logs import LOGGER_PREFIX, get_logger

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def unconfigured_structlog() -> Iterator[None]:
    """structlog as in a fresh process whose app never configured it."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def failing_listener(_event: InferenceCompleted) -> None:
    raise RuntimeError("boom")


def emit_to_a_failing_listener() -> None:
    bus = EventBus()
    bus.subscribe(InferenceCompleted, failing_listener)
    bus.emit(InferenceCompleted(model_name="m", version="v1", duration_ms=1.0))


def test_unconfigured_structlog_logs_go_through_stdlib_logging(
    unconfigured_structlog: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger=LOGGER_PREFIX):
        emit_to_a_failing_listener()

    (record,) = caplog.records
    assert record.name == "inference_metrics.metrics_core.bus"
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("listener_failed event_type=")
    assert f"listener={record.structlog['listener']}" in record.getMessage()  # type: ignore[attr-defined]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert record.structlog["listener"].endswith("failing_listener")  # type: ignore[attr-defined]


def test_the_apps_level_governs_them(
    unconfigured_structlog: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.CRITICAL, logger=LOGGER_PREFIX):
        emit_to_a_failing_listener()
        get_logger("tests").bind(request="r1").warning("ignored")
        get_logger("tests").critical("kept", value=3)

    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("inference_metrics.tests", "kept value=3")
    ]


def test_a_configured_structlog_receives_the_events_and_keys() -> None:
    with capture_logs() as logs:
        get_logger("tests").bind(request="r1").warning("slow", ms=12)

    assert logs == [{"event": "slow", "request": "r1", "ms": 12, "log_level": "warning"}]


def test_nothing_reaches_stdout_and_an_apps_logging_handler_gets_the_errors() -> None:
    script = textwrap.dedent(
        """
        import io, json, logging, sys
        sys.path.insert(0, "tests/metrics_core")
        from test_logs import emit_to_a_failing_listener
        from metrics_core.logs import get_logger

        captured = io.StringIO()
        handler = logging.StreamHandler(captured)
        logging.getLogger("inference_metrics").addHandler(handler)
        emit_to_a_failing_listener()
        get_logger("collectors.gpu").info("below_the_default_level")
        print(json.dumps(captured.getvalue().splitlines()[0]), file=sys.stderr)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    first_line = json.loads(done.stderr.strip().splitlines()[-1])
    assert first_line.startswith("listener_failed event_type=")
