"""Registries: where metric values are stored."""

from metrics_core.registry.aggregating import AggregatingRegistry, Instrument
from metrics_core.registry.protocol import BoundInstrument, Registry
from metrics_core.registry.raw import RawRegistry

__all__ = ["AggregatingRegistry", "BoundInstrument", "Instrument", "RawRegistry", "Registry"]
