"""LLM prices: what a request cost, from its tokens, when the event carries no cost.

A ``PriceTable`` maps a model to its prices in US dollars per million input,
output and cached-input tokens. ``InferenceCollector(prices=...)`` uses it for
every ``InferenceCompleted`` that has tokens and no ``cost_usd``; an explicit
``cost_usd`` always wins.

Cached tokens are counted inside ``input_tokens`` (as OpenAI reports
``cached_tokens`` and OpenTelemetry's ``gen_ai.usage.input_tokens`` counts
them): ``cost = (input - cached) * input_price + cached * cached_input_price +
output * output_price``, each per 1,000,000 tokens. A model with no
``cached_input`` price bills cached tokens at its ``input`` price.

Prices are looked up by ``"model_name:version"`` first, then by ``model_name``;
a model in neither has no computed cost (nothing recorded).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["ModelPrice", "PriceTable", "as_price_table"]

_PER = 1_000_000.0
_FIELDS = ("input", "output", "cached_input")


def _price(_instance: Any, attribute: Any, value: Any) -> None:
    if value is None and attribute.name == "cached_input":
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"'{attribute.name}' must be a finite price >= 0: {value!r}")


@attrs.frozen(kw_only=True, slots=True)
class ModelPrice:
    """US dollars per million tokens: ``input``, ``output`` and ``cached_input``."""

    input: float = attrs.field(validator=_price)
    output: float = attrs.field(validator=_price)
    cached_input: float | None = attrs.field(default=None, validator=_price)

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int) -> float:
        """The cost of one request, in US dollars."""
        cached = min(cached_tokens, input_tokens) if input_tokens else cached_tokens
        uncached = max(input_tokens - cached, 0)
        cached_price = self.input if self.cached_input is None else self.cached_input
        return (uncached * self.input + cached * cached_price + output_tokens * self.output) / _PER


class PriceTable:
    """Prices per model, from a mapping or a JSON or YAML file.

    >>> table = PriceTable({"gpt-4o": {"input": 2.5, "output": 10.0, "cached_input": 1.25}})
    >>> table.cost("gpt-4o", "v1", input_tokens=1_000, output_tokens=500, cached_tokens=400)
    0.007
    """

    __slots__ = ("_prices",)

    def __init__(self, prices: Mapping[str, ModelPrice | Mapping[str, float | None]]) -> None:
        if not isinstance(prices, Mapping):
            raise TypeError(f"'prices' must be a mapping of model to prices: {prices!r}")
        table: dict[str, ModelPrice] = {}
        for model, price in prices.items():
            if not isinstance(model, str) or not model:
                raise ValueError(f"a model in 'prices' must be a non-empty string: {model!r}")
            table[model] = price if isinstance(price, ModelPrice) else _model_price(model, price)
        self._prices: Mapping[str, ModelPrice] = MappingProxyType(table)

    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        """Load ``{model: {input, output, cached_input}}`` from ``.json``, ``.yaml`` or ``.yml``."""
        file = Path(path)
        text = file.read_text(encoding="utf-8")
        if file.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml  # noqa: PLC0415 - optional: only YAML price files need it
            except ModuleNotFoundError as error:
                raise ImportError("YAML price files need PyYAML: pip install pyyaml") from error
            data = yaml.safe_load(text)
        elif file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise ValueError(f"'path' must end in .json, .yaml or .yml: {str(path)!r}")
        return cls(data)

    @property
    def prices(self) -> Mapping[str, ModelPrice]:
        """Model (or ``"model:version"``) -> its prices, read-only."""
        return self._prices

    def price(self, model_name: str, version: str) -> ModelPrice | None:
        """The prices of ``model_name:version``, else of ``model_name``, else ``None``."""
        prices = self._prices
        return prices.get(f"{model_name}:{version}") or prices.get(model_name)

    def cost(
        self,
        model_name: str,
        version: str,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cached_tokens: int | None = None,
    ) -> float | None:
        """The cost of one request; ``None`` for an unpriced model or a request with no tokens."""
        if input_tokens is None and output_tokens is None:
            return None
        price = self.price(model_name, version)
        if price is None:
            return None
        return price.cost(input_tokens or 0, output_tokens or 0, cached_tokens or 0)

    def __len__(self) -> int:
        return len(self._prices)

    def __repr__(self) -> str:
        return f"PriceTable({len(self._prices)} models)"


def _model_price(model: str, price: object) -> ModelPrice:
    if not isinstance(price, Mapping):
        raise ValueError(f"the prices of {model!r} must be a mapping: {price!r}")
    unknown = set(price) - set(_FIELDS)
    if unknown or "input" not in price or "output" not in price:
        raise ValueError(
            f"the prices of {model!r} must have 'input' and 'output' "
            f"(and optionally 'cached_input'), per million tokens: {dict(price)!r}"
        )
    try:
        return ModelPrice(**price)
    except ValueError as error:
        raise ValueError(f"the prices of {model!r}: {error}") from None


def as_price_table(
    prices: PriceTable | Mapping[str, ModelPrice | Mapping[str, float | None]] | None,
) -> PriceTable | None:
    """``prices`` as a ``PriceTable`` (``None`` stays ``None``)."""
    if prices is None or isinstance(prices, PriceTable):
        return prices
    return PriceTable(prices)
