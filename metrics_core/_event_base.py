"""The bases of every event, ``Event`` and ``ModelEvent``, and their shared checks.

Re-exported by :mod:`metrics_core.events`. Validation runs once per event in
``__attrs_post_init__`` with fast inline checks, because events are built on the
request path; a failing check falls back to the precise validators for the
error message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs

from metrics_core._validation import MAX_VALUE, check_int, check_non_negative, finite
from metrics_core.attributes import NO_ATTRIBUTES, Attributes, check_attributes

__all__ = ["NOW", "Event", "ModelEvent", "slot_setter", "writer_of"]

MAX = MAX_VALUE

NOW: Any = object()
"""``timestamp`` not given: a hand-written ``__init__`` stamps the event with ``time.time()``."""


def slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The setter of the slot ``name`` of ``cls``, for a frozen class's own ``__init__``.

    Calling it stores the value without the frozen ``__setattr__`` and without the
    name lookup of ``object.__setattr__``: about half the cost of the latter.
    """
    for klass in cls.__mro__:
        slot = vars(klass).get(name)
        if slot is not None:
            setter: Callable[[Any, Any], None] = slot.__set__
            return setter
    raise AttributeError(f"{cls.__qualname__} has no slot {name!r}")


_writers: dict[type, type] = {}


def writer_of(cls: type) -> type:
    """A twin of ``cls``: the same bases and slots, with the plain ``object.__setattr__``.

    A frozen class's own ``__init__`` switches the new instance to its twin, fills it
    with plain attribute stores (the fastest the interpreter has: about 15 ns each,
    against 70 through a slot's setter) and switches it back. The layouts match, so
    ``__class__`` may be assigned either way; nothing else ever sees the twin.
    """
    writer = _writers.get(cls)
    if writer is None:
        # Both plain: they share the type's one setattr slot, which must be object's own.
        namespace: dict[str, object] = {
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__module__": cls.__module__,
        }
        if "__slots__" in vars(cls):
            namespace["__slots__"] = vars(cls)["__slots__"]
        # A race makes two equal twins; either will do.
        writer = _writers[cls] = type(f"{cls.__qualname__}Writer", cls.__bases__, namespace)
    return writer


def fail_model(event: ModelEvent) -> None:
    """Raise the error for a bad ``model_name`` or ``version`` of ``event``."""
    for field in ("model_name", "version"):
        value = getattr(event, field)
        if not isinstance(value, str) or not value:
            raise ValueError(f"'{field}' must be a non-empty string: {value!r}")


def check_non_negative_field(event: Event, value: object, field: str) -> None:
    """Check a number field >= 0, storing a converted value (a ``Decimal``) as a float."""
    # Plain in-range floats and ints pass with two checks; anything else (a Decimal,
    # a numpy scalar) is converted to float by the shared validation, or rejected.
    if (value.__class__ is float or value.__class__ is int) and 0.0 <= value <= MAX:
        return
    object.__setattr__(event, field, check_non_negative(value, field))


def check_optional_count(value: object, field: str) -> None:
    """Check ``None`` or an ``int`` >= 0."""
    if value is None or (value.__class__ is int and 0 <= value <= MAX):
        return
    check_int(value, field, 0, " or None")


def check_timestamp(event: Event) -> None:
    """Check ``event.timestamp``, a finite float >= 0 (an int is stored as given)."""
    value = event.timestamp
    if value.__class__ is not float or not 0.0 <= value <= MAX:
        finite(event, attrs.fields(Event).timestamp, value)


def check_model_event(event: ModelEvent) -> None:
    """The checks of every ``ModelEvent``: timestamp, model, version, attributes."""
    timestamp = event.timestamp
    if timestamp.__class__ is not float or not 0.0 <= timestamp <= MAX:
        check_timestamp(event)
    name, version = event.model_name, event.version
    if not (name.__class__ is str and version.__class__ is str and name and version):
        fail_model(event)
    if event.attributes is not NO_ATTRIBUTES:
        # Frozen: validated and stored once, as strings, at construction.
        object.__setattr__(event, "attributes", check_attributes(event.attributes))


@attrs.frozen(kw_only=True, slots=True)
class Event:
    """Base of every event. ``timestamp`` is seconds since the epoch."""

    __module__ = "metrics_core.events"

    timestamp: float = attrs.field(factory=time.time)

    def __attrs_post_init__(self) -> None:
        # In post-init, not as a field validator: an inline check costs less per event.
        # Subclasses with a post-init of their own call this, or check the same way.
        check_timestamp(self)


@attrs.frozen(kw_only=True, slots=True)
class ModelEvent(Event):
    """Base of the events about one model version.

    ``attributes`` are extra dimensions (``{"provider": "openai"}``), stored as a
    frozen mapping of strings; a collector records only the keys it keeps (see
    ``metrics_core.attributes``).
    """

    __module__ = "metrics_core.events"

    model_name: str
    version: str
    attributes: Attributes = NO_ATTRIBUTES

    def __attrs_post_init__(self) -> None:
        check_model_event(self)
