"""The dashboard page as a file: packaged, self-contained, with the hooks the browser test uses."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

from integrations.dashboard import DASHBOARD_CONTENT_TYPE, dashboard_html

SOURCE = Path(__file__).resolve().parents[2] / "integrations" / "dashboard.html"


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text of <script> and <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.code: list[str] = []
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_code = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._in_code = False

    def handle_data(self, data: str) -> None:
        if self._in_code:
            self.code.append(data)


def _parse() -> _Elements:
    parser = _Elements()
    parser.feed(dashboard_html().decode("utf-8"))
    parser.close()
    return parser


def test_dashboard_html_is_the_packaged_file_read_once() -> None:
    packaged = resources.files("integrations").joinpath("dashboard.html").read_bytes()

    assert dashboard_html() == packaged == SOURCE.read_bytes()
    assert dashboard_html() is dashboard_html()
    assert DASHBOARD_CONTENT_TYPE == "text/html; charset=utf-8"


def test_page_is_utf8_html_titled_inference_metrics() -> None:
    text = dashboard_html().decode("utf-8")

    assert text.startswith("<!doctype html>")
    assert "<title>inference-metrics</title>" in text
    assert '<meta charset="utf-8">' in text


def test_page_loads_nothing_from_elsewhere() -> None:
    text = dashboard_html().decode("utf-8")
    parser = _parse()
    code = "\n".join(parser.code)

    # No absolute or protocol-relative URL anywhere, not even in a comment.
    assert re.findall(r"(?i)\b(?:https?|wss?|ftp):", text) == []
    links = {
        (tag, name): value
        for tag, attrs in parser.tags
        for name, value in attrs.items()
        if name in ("src", "href", "srcset", "action", "poster", "data")
    }
    assert links == {("link", "href"): "data:,"}
    assert [tag for tag, _ in parser.tags if tag in ("img", "iframe", "object", "embed")] == []
    assert [attrs for tag, attrs in parser.tags if tag == "script" and "src" in attrs] == []
    # CSS: no @import, web font or url(); JS: nothing fetched but the relative stream and
    # the relative history endpoint that backfills the charts.
    assert re.findall(r"(?i)@import|@font-face|url\(", code) == []
    assert re.findall(r"(?i)\bimport\s*\(|\bimportScripts\b|XMLHttpRequest", code) == []
    assert re.findall(r"\bfetch\s*\(\s*([^,)+]*)", code) == ['"metrics/history?" ']
    assert re.findall(r"(?i)(?:src|href|url|import|fetch)\s*[=(]\s*[\"']?\s*//", text) == []
    # The one connection is relative, so the page works under any mount prefix.
    assert re.findall(r"new\s+(?:EventSource|WebSocket)\s*\(\s*(\S+)", code) == ['"metrics/stream"']


def test_page_has_stable_hooks_for_tools_and_tests() -> None:
    ids = {attrs.get("id") for _, attrs in _parse().tags} - {None}

    assert {
        "status",
        "status-text",
        "last-update",
        "versions",
        "chart-latency",
        "chart-rps",
        "legend",
        "total-rps",
        "total-requests",
        "total-error-rate",
    } <= ids
    text = dashboard_html().decode("utf-8")
    for hook in (
        '"data-key"',
        '"data-field"',
        '"data-value"',
        '"data-level"',
        "window.__dashboard",
    ):
        assert hook in text
