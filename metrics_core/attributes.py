"""Attributes: the extra dimensions a per-model event may carry.

``InferenceCompleted(..., attributes={"provider": "openai", "streamed": True})``:
keys are tag keys (identifiers, optionally dotted), values ``str``, ``int``,
``float`` or ``bool``, validated by the same functions as :class:`Tags` and stored
as ``Tags`` (values as strings: ``True`` becomes ``"true"``). Nothing records an
attribute by itself: a collector keeps the keys it is told to keep
(``InferenceCollector(dimensions=("provider",))``) and ignores the others.
"""

from __future__ import annotations

from collections.abc import Mapping

from metrics_core.tags import Tags, TagValue

__all__ = ["MAX_ATTRIBUTES", "NO_ATTRIBUTES", "Attributes", "check_attributes"]

Attributes = Mapping[str, TagValue]
"""What ``attributes=`` accepts: tag keys to ``str``, ``int``, ``float`` or ``bool``."""

MAX_ATTRIBUTES = 32
"""Most attributes one event may carry: an event is not a log line."""

NO_ATTRIBUTES: Tags = Tags.empty()
"""The default ``attributes`` of every event (shared, so the common case allocates nothing)."""


def check_attributes(value: object, field: str = "attributes") -> Tags:
    """Return ``value`` as ``Tags`` if it is a valid attributes mapping, else raise.

    ``TypeError`` when it is not a mapping; ``ValueError`` naming ``field`` for too
    many items, a bad key or a bad value.
    """
    if value.__class__ is Tags:
        tags: Tags = value
    elif isinstance(value, Mapping):
        if len(value) > MAX_ATTRIBUTES:
            raise ValueError(
                f"'{field}' must have at most {MAX_ATTRIBUTES} items: {len(value)} given"
            )
        try:
            tags = Tags(value)
        except ValueError as error:
            raise ValueError(f"'{field}': {error}") from None
    else:
        raise TypeError(f"'{field}' must be a mapping of str to str, int, float or bool: {value!r}")
    if len(tags) > MAX_ATTRIBUTES:
        raise ValueError(f"'{field}' must have at most {MAX_ATTRIBUTES} items: {len(tags)} given")
    return tags
