"""Exporter settings fail in the constructor, not at the first export (issue #10, item 8)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from exporters import ConsoleExporter, OTLPExporter, PrometheusExporter, StatsDExporter
from exporters.prometheus import PushgatewayTarget


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (
            lambda: PrometheusExporter(pushgateway="http://x"),  # type: ignore[arg-type]
            TypeError,
            "'pushgateway' must be a PushgatewayTarget: 'http://x'",
        ),
        (
            lambda: PushgatewayTarget("not a url", "job"),
            ValueError,
            "'url' must be an http(s) URL",
        ),
        (
            lambda: PushgatewayTarget("ftp://host:9091", "job"),
            ValueError,
            "'url' must be an http(s) URL with a host: 'ftp://host:9091'",
        ),
        (lambda: PushgatewayTarget("localhost:9091", ""), ValueError, "'job' must be a non-empty"),
        (
            lambda: OTLPExporter(endpoint="notaurl"),
            ValueError,
            "'endpoint' must be an http(s) URL with a host: 'notaurl'",
        ),
        (
            lambda: OTLPExporter(endpoint="http://host:99999/v1/metrics"),
            ValueError,
            "'endpoint' must be an http(s) URL",
        ),
        (
            lambda: StatsDExporter(host=None),  # type: ignore[arg-type]
            ValueError,
            "'host' must be a non-empty host name or address: None",
        ),
        (lambda: StatsDExporter(host=""), ValueError, "'host' must be a non-empty host name"),
        (
            lambda: ConsoleExporter(stream=5),  # type: ignore[arg-type]
            TypeError,
            "'stream' must be a text stream with write(): 5",
        ),
    ],
)
def test_bad_settings_fail_in_the_constructor(
    build: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        build()


def test_good_settings_are_kept() -> None:
    assert PushgatewayTarget("localhost:9091", "job").url == "localhost:9091"
    assert PushgatewayTarget("https://gw.example:9091/path", "job").job == "job"
    assert OTLPExporter(endpoint="http://127.0.0.1:4318/v1/metrics").endpoint.endswith("metrics")
