"""The ``Collector`` contract and ``BaseCollector``, the convenient way to write one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from metrics_core.bus import EventBus
from metrics_core.events import Event
from metrics_core.registry import Registry
from metrics_core.tags import Tags, TagValue
from metrics_core.values import Counter, Gauge, Histogram, Timer


@runtime_checkable
class Collector(Protocol):
    """Subscribes to event classes and records metrics from them.

    ``Metrics.collect`` calls ``bind`` once, subscribes every handler that
    ``listeners`` returns, then calls ``start``; ``Metrics.close`` unsubscribes
    and calls ``stop``.
    """

    def listeners(self) -> Mapping[type[Event], Callable[[Any], object]]:
        """Event class -> handler called with each event of that class (or a subclass)."""

    def bind(self, registry: Registry, bus: EventBus) -> None:
        """Receive the registry to record into and the bus (for collectors that emit)."""

    def start(self) -> None:
        """Begin background work, if any (a sampler thread, say)."""

    def stop(self) -> None:
        """End background work; must return promptly and leave no thread behind."""


class BaseCollector:
    """A base for collectors: declare ``subscriptions``, write handlers, record.

    >>> class CacheCollector(BaseCollector):
    ...     subscriptions = {CacheMissed: "on_miss"}
    ...     def on_miss(self, event: CacheMissed) -> None:
    ...         self.counter("cache_misses_total", {"cache": event.cache})
    """

    subscriptions: ClassVar[Mapping[type[Event], str]] = {}
    """Event class -> name of the handler method."""

    _registry: Registry | None = None
    _bus: EventBus | None = None

    def listeners(self) -> Mapping[type[Event], Callable[[Any], object]]:
        """The bound handler of each class in ``subscriptions``."""
        return {
            event_type: getattr(self, method) for event_type, method in self.subscriptions.items()
        }

    def bind(self, registry: Registry, bus: EventBus) -> None:
        """Keep the registry and the bus."""
        self._registry = registry
        self._bus = bus

    def start(self) -> None:
        """Nothing to start by default."""

    def stop(self) -> None:
        """Nothing to stop by default."""

    @property
    def registry(self) -> Registry:
        """The registry this collector records into; raises until bound."""
        if self._registry is None:
            raise RuntimeError(f"{type(self).__name__} is not bound: pass it to Metrics.collect()")
        return self._registry

    @property
    def bus(self) -> EventBus:
        """The bus this collector listens on; raises until bound."""
        if self._bus is None:
            raise RuntimeError(f"{type(self).__name__} is not bound: pass it to Metrics.collect()")
        return self._bus

    def counter(
        self, name: str, tags: Tags | Mapping[str, TagValue], increment: float = 1.0
    ) -> Counter:
        """Add to a counter; return the ``Counter`` value recorded."""
        return self.registry.counter(name, tags, increment)

    def gauge(self, name: str, tags: Tags | Mapping[str, TagValue], value: float) -> Gauge:
        """Set a gauge; return the ``Gauge`` value recorded."""
        return self.registry.gauge(name, tags, value)

    def histogram(self, name: str, tags: Tags | Mapping[str, TagValue], value: float) -> Histogram:
        """Observe a value; return the ``Histogram`` value recorded."""
        return self.registry.histogram(name, tags, value)

    def timer(self, name: str, tags: Tags | Mapping[str, TagValue], duration_ms: float) -> Timer:
        """Observe a duration in milliseconds; return the ``Timer`` value recorded."""
        return self.registry.timer(name, tags, duration_ms)
