"""Control settings from environment variables, read when a ``Metrics`` is made.

Arguments given in code win; a variable fills in an argument left out. Read at
construction, never at import. docs/control.md has the table.

- ``INFERENCE_METRICS_ENABLED``: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``;
- ``INFERENCE_METRICS_SAMPLE_REQUESTS``, ``_SAMPLE_STREAMS``, ``_SAMPLE_ERRORS``: rates 0..1;
- ``INFERENCE_METRICS_SAMPLE_MODELS``: ``gpt-4o:requests=0.01,streams=0.1;bert:requests=0.5``;
- ``INFERENCE_METRICS_MAX_EVENTS_PER_SECOND``: the load-shedding budget;
- ``INFERENCE_METRICS_DIMENSIONS``: ``provider,tenant``, the attribute keys an
  ``InferenceCollector`` keeps when it is not given ``dimensions``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from metrics_core.sampling import SAMPLING_KINDS, Sampling, check_rate
from metrics_core.shedding import LoadShedding

__all__ = ["ENV_PREFIX", "ControlSettings", "dimensions_from_env"]

ENV_PREFIX = "INFERENCE_METRICS_"
"""The prefix of every variable the library reads."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@attrs.frozen(kw_only=True, slots=True)
class ControlSettings:
    """What the environment says: ``None`` where a variable is unset."""

    enabled: bool | None = None
    sampling: Sampling | None = None
    shedding: LoadShedding | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ControlSettings:
        """Parse the ``INFERENCE_METRICS_*`` variables; a bad value raises ``ValueError``."""
        return cls(
            enabled=_enabled(environ.get(ENV_PREFIX + "ENABLED")),
            sampling=_sampling(environ),
            shedding=_shedding(environ.get(ENV_PREFIX + "MAX_EVENTS_PER_SECOND")),
        )


def _enabled(text: str | None) -> bool | None:
    if text is None or not text.strip():
        return None
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"'{ENV_PREFIX}ENABLED' must be one of 1/0, true/false, yes/no, on/off: {text!r}"
    )


def _env_rate(text: str, field: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"'{field}' must be a number within [0, 1]: {text!r}") from None
    return check_rate(number, field)


def _sampling(environ: Mapping[str, str]) -> Sampling | None:
    rates: dict[str, float] = {}
    for kind in SAMPLING_KINDS:
        field = f"{ENV_PREFIX}SAMPLE_{kind.upper()}"
        text = environ.get(field)
        if text is not None and text.strip():
            rates[kind] = _env_rate(text.strip(), field)
    models_text = environ.get(ENV_PREFIX + "SAMPLE_MODELS")
    per_model = _per_model(models_text) if models_text and models_text.strip() else {}
    if not rates and not per_model:
        return None
    return Sampling(per_model=per_model, **rates)


def _per_model(text: str) -> dict[str, dict[str, float]]:
    field = ENV_PREFIX + "SAMPLE_MODELS"
    out: dict[str, dict[str, float]] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        model_name, sep, rates_text = entry.rpartition(":")
        if not sep or not model_name:
            raise ValueError(f"'{field}' entries must be 'model:kind=rate,...': {entry!r}")
        rates: dict[str, float] = {}
        for pair in filter(None, (p.strip() for p in rates_text.split(","))):
            kind, eq, value = pair.partition("=")
            if not eq or kind.strip() not in SAMPLING_KINDS:
                raise ValueError(
                    f"'{field}' rates must be kind=rate with kind in {SAMPLING_KINDS}: {pair!r}"
                )
            rates[kind.strip()] = _env_rate(value.strip(), field)
        out[model_name.strip()] = rates
    return out


def _shedding(text: str | None) -> LoadShedding | None:
    if text is None or not text.strip():
        return None
    field = ENV_PREFIX + "MAX_EVENTS_PER_SECOND"
    try:
        budget = float(text)
    except ValueError:
        raise ValueError(f"'{field}' must be a number of events > 0: {text!r}") from None
    if not 0 < budget < math.inf:
        raise ValueError(f"'{field}' must be a number of events > 0: {text!r}")
    return LoadShedding(budget)


def dimensions_from_env(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The keys of ``INFERENCE_METRICS_DIMENSIONS`` (comma-separated), ``()`` when unset."""
    text = environ.get(ENV_PREFIX + "DIMENSIONS")
    if text is None or not text.strip():
        return ()
    keys = tuple(key.strip() for key in text.split(","))
    if not all(keys):
        raise ValueError(f"'{ENV_PREFIX}DIMENSIONS' must be keys separated by commas: {text!r}")
    return keys
