"""Attributes: the extra dimensions a per-model event may carry.

``InferenceCompleted(..., attributes={"provider": "openai", "streamed": True})``:
keys are tag keys (identifiers, optionally dotted, checked by the same function as
:class:`Tags`), values ``str``, ``int``, ``float`` or ``bool``, stored as strings as
tags store them (``True`` becomes ``"true"``). Nothing records an attribute by
itself: a collector keeps the keys it is told to keep
(``InferenceCollector(dimensions=("provider",))``) and ignores the others.

Events are built on the request path, so the stored form is a light frozen
mapping rather than ``Tags`` (which sorts and hashes at construction): keys
already seen valid skip the pattern check, and the hash is computed on demand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from metrics_core._validation import check_tag_key
from metrics_core.tags import TagValue

__all__ = ["MAX_ATTRIBUTES", "NO_ATTRIBUTES", "Attributes", "EventAttributes", "check_attributes"]

Attributes = Mapping[str, TagValue]
"""What ``attributes=`` accepts: tag keys to ``str``, ``int``, ``float`` or ``bool``."""

MAX_ATTRIBUTES = 32
"""Most attributes one event may carry: an event is not a log line."""

_KNOWN_KEYS_LIMIT = 4_096
# Keys that passed check_tag_key: a pure function's results, bounded.
_known_keys: set[str] = set()


class EventAttributes(Mapping[str, str]):
    """The frozen attributes of one event: tag keys to string values.

    Equal to any mapping with the same items (``Tags`` included), hashable.
    """

    __slots__ = ("_map",)

    _map: dict[str, str]

    def __init__(self, values: dict[str, str] | None = None, /) -> None:
        object.__setattr__(self, "_map", values if values is not None else {})

    def __getitem__(self, key: str) -> str:
        return self._map[key]

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        """The value of ``key``, else ``default`` (a plain dict lookup)."""
        return self._map.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventAttributes):
            return self._map == other._map
        if isinstance(other, Mapping):
            return self._map == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._map.items()))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("EventAttributes is immutable")

    def __reduce__(self) -> tuple[type[EventAttributes], tuple[dict[str, str]]]:
        return (EventAttributes, (dict(self._map),))

    def __repr__(self) -> str:
        return f"EventAttributes({self._map!r})"


NO_ATTRIBUTES = EventAttributes()
"""The default ``attributes`` of every event (shared, so the common case allocates nothing)."""


def _value_str(key: str, value: object, field: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"'{field}': tag value must be str, int, float or bool: {key!r}={value!r}")


def check_attributes(value: object, field: str = "attributes") -> EventAttributes:
    """Return ``value`` as ``EventAttributes`` if it is a valid attributes mapping, else raise.

    ``TypeError`` when it is not a mapping; ``ValueError`` naming ``field`` for too
    many items, a bad key or a bad value.
    """
    if value.__class__ is EventAttributes:
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"'{field}' must be a mapping of str to str, int, float or bool: {value!r}")
    if len(value) > MAX_ATTRIBUTES:
        raise ValueError(f"'{field}' must have at most {MAX_ATTRIBUTES} items: {len(value)} given")
    stored: dict[str, str] = {}
    known = _known_keys
    for key, item in value.items():
        if key not in known:
            try:
                check_tag_key(key)
            except ValueError as error:
                raise ValueError(f"'{field}': {error}") from None
            if len(known) < _KNOWN_KEYS_LIMIT:
                known.add(key)
        stored[key] = item if item.__class__ is str else _value_str(key, item, field)
    return EventAttributes(stored)


def check_attribute_keys(keys: object, field: str) -> tuple[str, ...]:
    """``keys`` as a tuple of distinct attribute keys (``dimensions=``, ``by=``).

    A string (one key where a sequence is meant), an invalid or a repeated key raises,
    naming ``field``.
    """
    if isinstance(keys, str):
        raise TypeError(f"'{field}' must be a sequence of keys, not a string: {keys!r}")
    if not isinstance(keys, Iterable):
        raise TypeError(f"'{field}' must be a sequence of keys: {keys!r}")
    kept = tuple(keys)
    for key in kept:
        try:
            check_tag_key(key)
        except ValueError as error:
            raise ValueError(f"'{field}': {error}") from None
    if len(set(kept)) != len(kept):
        raise ValueError(f"'{field}' must not repeat a key: {kept!r}")
    return kept
