"""Collectors: subscribe to events, record metrics."""

from collectors.base import BaseCollector, Collector
from collectors.inference import InferenceCollector

__all__ = ["BaseCollector", "Collector", "InferenceCollector"]
