"""Registries: where metric values are stored."""

from metrics_core.registry.aggregating import AggregatingRegistry
from metrics_core.registry.protocol import Registry
from metrics_core.registry.raw import RawRegistry

__all__ = ["AggregatingRegistry", "RawRegistry", "Registry"]
