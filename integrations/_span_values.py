"""``SpanValues``: what the code set on one span, made at the first set.

Most tracked calls set nothing: their span then holds no ``SpanValues`` at all,
and its completion is the event with every optional field at its default, built
without a look at each of them. Values are checked here, when set, so a bad one
raises in the code that set it, while the request is still running.
"""

from __future__ import annotations

import math

from metrics_core._validation import check_int, check_non_negative, shown

__all__ = ["SettableValues", "SpanValues", "count_or_none", "number_or_none"]


def count_or_none(value: object, field: str) -> int | None:
    """``value`` if it is ``None`` or an ``int`` >= 0, else ``ValueError`` naming ``field``."""
    if value is None:
        return None
    return check_int(value, field, 0, " or None")


def number_or_none(value: object, field: str, upper: float = math.inf) -> float | None:
    """``value`` as a float if ``None`` or finite within [0, ``upper``], else ``ValueError``."""
    if value is None:
        return None
    number = check_non_negative(value, field)  # the library's one numeric validation
    if number > upper:
        raise ValueError(f"'{field}' must be within [0, 1]: {shown(value)}")
    return number


class SpanValues:
    """The settable values of one span and its stream counts, each checked before it is stored.

    ``chunks`` is ``None`` for a request that is not a stream (``0`` for a stream
    before its first chunk); ``first_token_ns`` is the ``perf_counter_ns`` of the
    first chunk, ``0`` before it.
    """

    __slots__ = (
        "batch_size",
        "cached_tokens",
        "chars",
        "chunks",
        "confidence",
        "cost_usd",
        "first_token_ns",
        "input_tokens",
        "output_tokens",
        "predicted_class",
    )  # fmt: skip

    def __init__(self, chunks: int | None = None) -> None:
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cached_tokens: int | None = None
        self.cost_usd: float | None = None
        self.confidence: float | None = None
        self.predicted_class: str | None = None
        self.batch_size = 1
        self.chunks = chunks
        self.chars: int | None = None
        self.first_token_ns = 0

    def set_predicted_class(self, value: object) -> None:
        """Store ``value`` if it is a string or ``None``."""
        if value is not None and not isinstance(value, str):
            raise ValueError(f"'predicted_class' must be a string or None: {value!r}")
        self.predicted_class = value

    def set_batch_size(self, value: object) -> None:
        """Store ``value`` if it is an ``int`` >= 1."""
        if not (isinstance(value, int) and value.__class__ is int and value >= 1):
            raise ValueError(f"'batch_size' must be an int >= 1: {value!r}")
        self.batch_size = value


class SettableValues:
    """The values code sets on a span, checked as set (the base of ``InferenceSpan``).

    ``RuntimeError`` once the span has ended: its values were recorded.
    """

    __slots__ = ("_ended", "_values", "request_id")

    _ended: bool
    _values: SpanValues | None
    request_id: str | None

    def _open_values(self) -> SpanValues:
        """The values to set, made at the first set; ``RuntimeError`` once the span ended."""
        self._check_open()
        values = self._values
        if values is None:
            values = self._values = SpanValues()
        return values

    @property
    def input_tokens(self) -> int | None:
        """Prompt tokens (an ``int`` >= 0)."""
        return None if self._values is None else self._values.input_tokens

    @input_tokens.setter
    def input_tokens(self, value: int | None) -> None:
        values = self._open_values()
        values.input_tokens = count_or_none(value, "input_tokens")

    @property
    def output_tokens(self) -> int | None:
        """Generated tokens (an ``int`` >= 0)."""
        return None if self._values is None else self._values.output_tokens

    @output_tokens.setter
    def output_tokens(self, value: int | None) -> None:
        values = self._open_values()
        values.output_tokens = count_or_none(value, "output_tokens")

    @property
    def cached_tokens(self) -> int | None:
        """Prompt tokens served from a cache (an ``int`` >= 0)."""
        return None if self._values is None else self._values.cached_tokens

    @cached_tokens.setter
    def cached_tokens(self, value: int | None) -> None:
        values = self._open_values()
        values.cached_tokens = count_or_none(value, "cached_tokens")

    @property
    def cost_usd(self) -> float | None:
        """Cost of the request in US dollars (finite, >= 0)."""
        return None if self._values is None else self._values.cost_usd

    @cost_usd.setter
    def cost_usd(self, value: float | None) -> None:
        values = self._open_values()
        values.cost_usd = number_or_none(value, "cost_usd")

    @property
    def confidence(self) -> float | None:
        """Confidence of the prediction, within [0, 1]."""
        return None if self._values is None else self._values.confidence

    @confidence.setter
    def confidence(self, value: float | None) -> None:
        values = self._open_values()
        values.confidence = number_or_none(value, "confidence", upper=1.0)

    @property
    def predicted_class(self) -> str | None:
        """The class the model predicted."""
        return None if self._values is None else self._values.predicted_class

    @predicted_class.setter
    def predicted_class(self, value: str | None) -> None:
        self._open_values().set_predicted_class(value)

    @property
    def batch_size(self) -> int:
        """Requests served together with this one (an ``int`` >= 1; 1 unless set)."""
        return 1 if self._values is None else self._values.batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self._open_values().set_batch_size(value)

    def _check_open(self) -> None:
        if self._ended:
            raise RuntimeError(f"span {self.request_id} has ended: its values were recorded")
