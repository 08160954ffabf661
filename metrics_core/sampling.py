"""``Sampling``: what share of requests pays for distribution work.

Counters stay exact whatever the rate: requests, errors by type, tokens and cost
are recorded for every event. What a rate below 1 thins is the distribution
work of ``InferenceCollector``: latency, time to first token, time per output
token, batch size and stream chunks. Token histograms are not thinned, because
their sums are the library's exact token totals.

Rates are per kind of traffic (``requests``: completed non-streamed requests,
``streams``: completed streamed ones and their first tokens, ``errors``: failed
requests), overridable per model. Errors are kept at 1.0 unless told otherwise.
A request with a ``request_id`` is kept or not by a hash of it, so its first
token and its completion agree; without one, by a random draw.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Mapping

import attrs

__all__ = ["SAMPLING_KINDS", "Sampling", "keep_sample"]

SAMPLING_KINDS: tuple[str, ...] = ("requests", "streams", "errors")
"""The kinds of traffic a rate applies to."""

_SCALE = 2.0**32


def check_rate(value: object, field: str) -> float:
    """Return ``value`` as a float if it is a number within [0, 1], else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'{field}' must be a number within [0, 1]: {value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"'{field}' must be within [0, 1]: {value!r}")
    return float(value)


def _rate(_instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    check_rate(value, attribute.name)


def _per_model(value: object) -> dict[str, dict[str, float]]:
    if not isinstance(value, Mapping):
        raise TypeError(f"'per_model' must be a mapping of model name to rates: {value!r}")
    out: dict[str, dict[str, float]] = {}
    for model_name, rates in value.items():
        if not isinstance(model_name, str) or not model_name:
            raise ValueError(f"'per_model' keys must be non-empty model names: {model_name!r}")
        if not isinstance(rates, Mapping):
            raise TypeError(f"'per_model[{model_name!r}]' must be a mapping of kind to rate")
        out[model_name] = {}
        for kind, rate in rates.items():
            if kind not in SAMPLING_KINDS:
                raise ValueError(
                    f"'per_model[{model_name!r}]' kind must be one of {SAMPLING_KINDS}: {kind!r}"
                )
            out[model_name][kind] = check_rate(rate, f"per_model[{model_name!r}][{kind!r}]")
    return out


@attrs.frozen(kw_only=True, slots=True)
class Sampling:
    """Sampling rates (0..1) of distribution work per kind, with per-model overrides.

    >>> Sampling(requests=0.1, per_model={"gpt-4o": {"streams": 0.5}}).rate("streams", "gpt-4o")
    0.5
    """

    requests: float = attrs.field(default=1.0, validator=_rate)
    streams: float = attrs.field(default=1.0, validator=_rate)
    errors: float = attrs.field(default=1.0, validator=_rate)
    per_model: Mapping[str, Mapping[str, float]] = attrs.field(factory=dict, converter=_per_model)

    def rate(self, kind: str, model_name: str) -> float:
        """The rate of ``kind`` for ``model_name``: its override, else the default."""
        override = self.per_model.get(model_name)
        if override is not None:
            found = override.get(kind)
            if found is not None:
                return found
        if kind == "requests":
            return self.requests
        if kind == "streams":
            return self.streams
        if kind == "errors":
            return self.errors
        raise ValueError(f"'kind' must be one of {SAMPLING_KINDS}: {kind!r}")

    @property
    def complete(self) -> bool:
        """Whether every rate is 1.0 (nothing is thinned)."""
        rates = [self.requests, self.streams, self.errors]
        rates.extend(r for model in self.per_model.values() for r in model.values())
        return all(r >= 1.0 for r in rates)


def keep_sample(rate: float, request_id: str | None, draw: random.Random) -> bool:
    """Whether a request sampled at ``rate`` is kept (by ``request_id``'s hash, else ``draw``)."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    if request_id is not None:
        return zlib.crc32(request_id.encode()) / _SCALE < rate
    return draw.random() < rate
