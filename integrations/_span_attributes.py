"""``SpanAttributes``: the attributes a span puts on its events, validated when set."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping

from metrics_core._validation import check_tag_key
from metrics_core.attributes import (
    MAX_ATTRIBUTES,
    NO_ATTRIBUTES,
    EventAttributes,
    check_attributes,
)
from metrics_core.tags import TagValue

__all__ = ["SpanAttributes"]


def _check_value(key: str, value: object) -> TagValue:
    if isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"'attributes[{key!r}]' must be a str, int, float or bool: {value!r}")


class SpanAttributes(MutableMapping[str, TagValue]):
    """A dict of attributes that checks each key and value as it is set.

    ``span.attributes["finish_reason"] = "length"`` raises ``ValueError`` at once
    for a bad key or value, or past ``MAX_ATTRIBUTES`` items, and ``RuntimeError``
    once the span has ended (its events are sent).
    """

    __slots__ = ("_check_open", "_items")

    def __init__(
        self, initial: Mapping[str, TagValue] | None, check_open: Callable[[], None]
    ) -> None:
        self._items: dict[str, TagValue] = {}
        self._check_open = check_open
        if initial:
            if not isinstance(initial, Mapping):
                raise TypeError(f"'attributes' must be a mapping: {initial!r}")
            for key, value in initial.items():
                self._set(key, value)

    def _set(self, key: str, value: TagValue) -> None:
        try:
            check_tag_key(key)
        except ValueError as error:
            raise ValueError(f"'attributes': {error}") from None
        if key not in self._items and len(self._items) >= MAX_ATTRIBUTES:
            raise ValueError(f"'attributes' must have at most {MAX_ATTRIBUTES} items: {key!r}")
        self._items[key] = _check_value(key, value)

    def __setitem__(self, key: str, value: TagValue) -> None:
        self._check_open()
        self._set(key, value)

    def __delitem__(self, key: str) -> None:
        self._check_open()
        del self._items[key]

    def __getitem__(self, key: str) -> TagValue:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def tags(self) -> EventAttributes:
        """The attributes as events store them."""
        return check_attributes(self._items) if self._items else NO_ATTRIBUTES

    def __repr__(self) -> str:
        return f"SpanAttributes({self._items!r})"
