"""A synthetic multi-version workload: what the demo drives through the library."""

from __future__ import annotations

import math
import random
import threading
import time

import attrs

from metrics_core.bus import EventBus
from metrics_core.events import (
    ActiveConnectionsChanged,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    MemoryUsageReported,
)


@attrs.frozen(kw_only=True)
class VersionProfile:
    """How one synthetic model version behaves."""

    model_name: str
    version: str
    median_latency_ms: float
    error_rate: float
    weight: float = 1.0
    llm: bool = False
    memory_bytes: int = 512 * 1024 * 1024
    error_types: tuple[str, ...] = ("TimeoutError", "ValueError")


DEFAULT_PROFILES: tuple[VersionProfile, ...] = (
    VersionProfile(model_name="fraud-detector", version="v1", median_latency_ms=12.0,
                   error_rate=0.005, weight=3.0),
    VersionProfile(model_name="fraud-detector", version="v2", median_latency_ms=18.0,
                   error_rate=0.03, weight=1.0),
    VersionProfile(model_name="image-tagger", version="2024.1", median_latency_ms=45.0,
                   error_rate=0.01, weight=2.0, memory_bytes=2 * 1024**3),
    VersionProfile(model_name="image-tagger", version="2024.2", median_latency_ms=44.0,
                   error_rate=0.01, weight=2.0, memory_bytes=2 * 1024**3),
    VersionProfile(model_name="chat-llm", version="7b-q4", median_latency_ms=900.0,
                   error_rate=0.02, weight=1.0, llm=True, memory_bytes=6 * 1024**3,
                   error_types=("RateLimitError", "ContextLengthError")),
    VersionProfile(model_name="chat-llm", version="7b-q8", median_latency_ms=1300.0,
                   error_rate=0.02, weight=1.0, llm=True, memory_bytes=9 * 1024**3,
                   error_types=("RateLimitError", "ContextLengthError")),
)  # fmt: skip
"""Three models x two versions; fraud-detector v2 is the slower, more error-prone candidate."""


class SyntheticWorkload:
    """Emits inference events for ``profiles`` at about ``rate`` requests per second.

    Latencies are lognormal (sigma 0.4) around each profile's median; LLM
    versions also report tokens, time to first token and cost. Runs in a daemon
    thread between ``start()`` and ``stop()``; ``emitted`` counts the requests.
    """

    def __init__(
        self,
        bus: EventBus,
        profiles: tuple[VersionProfile, ...] = DEFAULT_PROFILES,
        *,
        rate: float = 300.0,
        seed: int = 7,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"'rate' must be > 0: {rate!r}")
        self.bus = bus
        self.profiles = profiles
        self.rate = rate
        self.emitted = 0
        self._random = random.Random(seed)
        self._weights = [p.weight for p in profiles]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Report memory and connections, then emit requests from a daemon thread."""
        for profile in self.profiles:
            self.bus.emit(
                MemoryUsageReported(
                    model_name=profile.model_name,
                    version=profile.version,
                    memory_bytes=profile.memory_bytes,
                )
            )
        self._thread = threading.Thread(target=self._run, name="synthetic-workload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop emitting and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def emit_one(self) -> None:
        """Emit one request's events for a version chosen by weight."""
        rng = self._random
        profile = rng.choices(self.profiles, self._weights)[0]
        name, version = profile.model_name, profile.version
        request_id = f"req-{self.emitted}"
        self.bus.emit(InferenceStarted(model_name=name, version=version, request_id=request_id))
        latency = profile.median_latency_ms * math.exp(rng.gauss(0.0, 0.4))
        if rng.random() < profile.error_rate:
            self.bus.emit(
                InferenceFailed(
                    model_name=name,
                    version=version,
                    duration_ms=latency,
                    error_type=rng.choice(profile.error_types),
                    request_id=request_id,
                )
            )
        elif profile.llm:
            output_tokens = rng.randint(50, 400)
            input_tokens = rng.randint(100, 2000)
            self.bus.emit(
                InferenceCompleted(
                    model_name=name,
                    version=version,
                    duration_ms=latency + output_tokens * 2.0,
                    request_id=request_id,
                    time_to_first_token_ms=latency * 0.2,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cost_usd=(input_tokens * 0.5 + output_tokens * 1.5) / 1_000_000,
                )
            )
        else:
            self.bus.emit(
                InferenceCompleted(
                    model_name=name,
                    version=version,
                    duration_ms=latency,
                    request_id=request_id,
                    confidence=rng.uniform(0.5, 1.0),
                    predicted_class=rng.choice(("legit", "fraud", "review")),
                )
            )
        self.emitted += 1
        if self.emitted % 50 == 0:
            self.bus.emit(
                ActiveConnectionsChanged(model_name=name, version=version, count=rng.randint(1, 32))
            )

    def _run(self) -> None:
        tick = 0.02
        per_tick = self.rate * tick
        carry = 0.0
        next_tick = time.monotonic()
        while not self._stop.is_set():
            carry += per_tick
            while carry >= 1.0:
                self.emit_one()
                carry -= 1.0
            next_tick += tick
            self._stop.wait(max(0.0, next_tick - time.monotonic()))
