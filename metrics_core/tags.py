"""``Tags``: the immutable, hashable mapping of dimensions attached to a metric."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar, overload

from metrics_core._validation import check_tag_key, shown

T = TypeVar("T")

TagValue = str | int | float | bool
"""What a tag value may be given as; values are stored as strings."""


class Tags(Mapping[str, str]):
    """An immutable, hashable mapping of tag keys to string values.

    Keys are identifiers, optionally dotted (``gen_ai.token.type``); values are
    stored as strings (``True`` becomes ``"true"``). Two ``Tags`` with the same
    items are equal and hash alike whatever the order they were given in.

    >>> Tags.of({"model_name": "bert", "version": "v2"})
    Tags({'model_name': 'bert', 'version': 'v2'})
    """

    __slots__ = ("_hash", "_items", "_map")

    _map: dict[str, str]
    _items: tuple[tuple[str, str], ...]
    _hash: int

    def __init__(self, values: Mapping[str, TagValue] | None = None, /) -> None:
        normalized: dict[str, str] = {}
        if values.__class__ is not dict and values is not None and not isinstance(values, Mapping):
            raise TypeError(f"tags must be a mapping of tag keys to values: {shown(values)}")
        if values:
            for key in sorted(check_tag_key(key) for key in values):
                normalized[key] = _tag_str(values[key])
        object.__setattr__(self, "_map", normalized)
        items = tuple(normalized.items())
        object.__setattr__(self, "_items", items)
        object.__setattr__(self, "_hash", hash(items))

    @classmethod
    def of(cls, values: Mapping[str, TagValue] | None = None, /, **kwargs: TagValue) -> Tags:
        """Build ``Tags`` from a mapping and/or keyword arguments."""
        if kwargs:
            merged: dict[str, TagValue] = dict(values or {})
            merged.update(kwargs)
            return cls(merged)
        return cls(values)

    @classmethod
    def _trusted(cls, values: dict[str, str], /) -> Tags:
        """``Tags`` of string values under keys already checked (the registry's own tags)."""
        tags = cls.__new__(cls)
        items = tuple(sorted(values.items()))
        object.__setattr__(tags, "_map", dict(items))
        object.__setattr__(tags, "_items", items)
        object.__setattr__(tags, "_hash", hash(items))
        return tags

    @classmethod
    def empty(cls) -> Tags:
        """Return the empty ``Tags``."""
        return _EMPTY

    def with_tag(self, key: str, value: TagValue) -> Tags:
        """Return a copy with ``key`` set to ``value``."""
        merged: dict[str, TagValue] = dict(self._map)
        merged[key] = value
        return Tags(merged)

    def merge(self, other: Mapping[str, TagValue]) -> Tags:
        """Return a copy updated with ``other``; ``other`` wins on equal keys."""
        merged: dict[str, TagValue] = dict(self._map)
        merged.update(other)
        return Tags(merged)

    def items_tuple(self) -> tuple[tuple[str, str], ...]:
        """The items sorted by key, as a tuple of pairs."""
        return self._items

    def includes(self, subset: Mapping[str, str]) -> bool:
        """Whether every item of ``subset`` is in these tags."""
        get = self._map.get
        # A loop, not all(...): snapshots filter every series with this.
        for key, value in subset.items():  # noqa: SIM110
            if get(key) != value:
                return False
        return True

    def __getitem__(self, key: str) -> str:
        return self._map[key]

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, /, default: str | T) -> str | T: ...

    def get(self, key: str, /, default: object = None) -> object:
        """The value of ``key``, or ``default``."""
        # The dictionary's own lookup: queries call this for every series, and
        # ``Mapping.get`` raises and catches a ``KeyError`` for each missing key.
        return self._map.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tags):
            return self._hash == other._hash and self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._map) == dict(other)
        return NotImplemented

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Tags is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Tags is immutable")

    def __reduce__(self) -> tuple[type[Tags], tuple[dict[str, str]]]:
        return (Tags, (dict(self._map),))

    def __repr__(self) -> str:
        return f"Tags({self._map!r})"

    def __str__(self) -> str:
        return ",".join(f'{key}="{value}"' for key, value in self._items)


def _tag_str(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"tag value must be str, int, float or bool: {value!r}")


_EMPTY = Tags()
