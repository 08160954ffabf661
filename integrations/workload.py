"""A synthetic multi-version workload: what the demo drives through the library.

Requests arrive as a Poisson process and finish when their simulated latency has
passed, so in-flight counts, time to first token and labels that arrive later
behave as they would in a server. Every random draw comes from one seeded
generator in virtual time, so a seed and a duration give the same requests
whatever the machine's speed.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import threading
import time
from collections.abc import Callable

import attrs

from metrics_core.bus import EventBus
from metrics_core.events import (
    ActiveConnectionsChanged,
    DriftMeasured,
    FirstTokenReceived,
    InferenceCompleted,
    InferenceFailed,
    InferenceStarted,
    MemoryUsageReported,
    PredictionEvaluated,
    RetryAttempted,
)

_SIGMA = 0.4  # lognormal spread of latencies and TTFT
_CONNECTIONS_EVERY = 0.5  # seconds between in-flight reports per version
_DRIFT_EVERY = 5.0  # seconds between drift measurements per version
_LABEL_DELAY = 2.0  # seconds before ground truth arrives for a labelled prediction
_RETRYABLE = frozenset({"TimeoutError", "RateLimitError"})


@attrs.frozen(kw_only=True)
class VersionProfile:
    """How one synthetic model version behaves.

    ``median_latency_ms`` is the median of a lognormal latency; for an LLM (``llm``)
    it is the median time to first token, and each output token adds
    ``ms_per_token``. ``accuracy`` is the share of labelled predictions that are
    right; ``classes`` are what a classifier predicts (empty for an LLM).
    ``drift`` is the mean drift score the version reports. The first profile of a
    model is its baseline, the others canaries.
    """

    model_name: str
    version: str
    median_latency_ms: float
    error_rate: float
    weight: float = 1.0
    llm: bool = False
    ms_per_token: float = 0.0
    memory_bytes: int = 512 * 1024 * 1024
    error_types: tuple[str, ...] = ("TimeoutError", "ValueError")
    classes: tuple[str, ...] = ()
    accuracy: float = 0.9
    drift: float = 0.05


_LLM_ERRORS = ("RateLimitError", "ContextLengthError")
_FRAUD = ("legit", "fraud", "review")
_TAGS = ("cat", "dog", "car", "tree")

DEFAULT_PROFILES: tuple[VersionProfile, ...] = (
    VersionProfile(model_name="fraud-detector", version="v1", median_latency_ms=12.0,
                   error_rate=0.005, weight=3.0, classes=_FRAUD, accuracy=0.92),
    VersionProfile(model_name="fraud-detector", version="v2", median_latency_ms=18.0,
                   error_rate=0.03, weight=1.0, classes=_FRAUD, accuracy=0.94, drift=0.25),
    VersionProfile(model_name="image-tagger", version="2024.1", median_latency_ms=45.0,
                   error_rate=0.01, weight=2.0, memory_bytes=2 * 1024**3, classes=_TAGS),
    VersionProfile(model_name="image-tagger", version="2024.2", median_latency_ms=45.0,
                   error_rate=0.01, weight=2.0, memory_bytes=2 * 1024**3, classes=_TAGS),
    VersionProfile(model_name="chat-llm", version="7b-q8", median_latency_ms=250.0,
                   error_rate=0.025, weight=1.0, llm=True, ms_per_token=4.0,
                   memory_bytes=9 * 1024**3, error_types=_LLM_ERRORS),
    VersionProfile(model_name="chat-llm", version="7b-q4", median_latency_ms=150.0,
                   error_rate=0.015, weight=1.0, llm=True, ms_per_token=2.5,
                   memory_bytes=6 * 1024**3, error_types=_LLM_ERRORS),
)  # fmt: skip
"""Three models x two versions, each pair a canary of a different outcome.

fraud-detector v2 is slower and errs more (``worse``); image-tagger 2024.2
behaves exactly like 2024.1 (``no_difference``); chat-llm 7b-q4 streams faster
and errs less than 7b-q8 (``better``).
"""


def canary_pairs(profiles: tuple[VersionProfile, ...]) -> list[tuple[str, str, str]]:
    """``(model_name, baseline, candidate)``: each model's first version against each other."""
    by_model: dict[str, list[str]] = {}
    for profile in profiles:
        by_model.setdefault(profile.model_name, []).append(profile.version)
    return [
        (model_name, versions[0], candidate)
        for model_name, versions in by_model.items()
        for candidate in versions[1:]
    ]


class SyntheticWorkload:
    """Emits inference events for ``profiles`` at about ``rate`` requests per second.

    Each request emits ``InferenceStarted`` on arrival and ``InferenceCompleted``
    or ``InferenceFailed`` when its latency has passed; LLM requests also emit
    ``FirstTokenReceived``. Retryable failures emit ``RetryAttempted``; a fifth of
    classifier predictions get a ``PredictionEvaluated`` two seconds later; every
    version reports its in-flight requests as ``ActiveConnectionsChanged`` twice a
    second and a ``DriftMeasured`` score every five seconds.

    ``start()`` runs it in real time on a daemon thread until ``stop()``;
    ``advance(until)`` runs it in virtual time instead (seconds since the start).
    """

    def __init__(
        self,
        bus: EventBus,
        profiles: tuple[VersionProfile, ...] = DEFAULT_PROFILES,
        *,
        rate: float = 300.0,
        seed: int = 7,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise ValueError(f"'rate' must be > 0: {rate!r}")
        if not profiles:
            raise ValueError(f"'profiles' must not be empty: {profiles!r}")
        self.bus = bus
        self.profiles = profiles
        self.rate = float(rate)
        self.started = 0
        """Requests that arrived so far."""
        self.finished = 0
        """Requests that completed or failed so far."""
        self.errors = 0
        """Requests that failed so far."""
        self._random = random.Random(seed)
        self._weights = list(itertools.accumulate(p.weight for p in profiles))
        self._in_flight = dict.fromkeys(profiles, 0)
        self._now = 0.0
        self._next_arrival = self._random.expovariate(self.rate)
        self._next_report = 0.0
        self._next_drift = 0.0
        self._pending: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def in_flight(self) -> int:
        """Requests started and not finished."""
        return self.started - self.finished

    def start(self) -> None:
        """Report each version's memory, then run in real time on a daemon thread."""
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

    def stop(self, timeout: float = 5.0) -> None:
        """Stop emitting and wait up to ``timeout`` for the thread; requests in flight stay so."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def advance(self, until: float) -> None:
        """Emit every event due up to ``until`` seconds after the start, in time order."""
        with self._lock:
            while True:
                due = min(self._next_arrival, self._next_report, self._next_drift)
                if self._pending and self._pending[0][0] <= due:
                    due = self._pending[0][0]
                if due > until:
                    break
                self._now = due
                if self._pending and self._pending[0][0] == due:
                    heapq.heappop(self._pending)[2]()
                elif due == self._next_arrival:
                    self._arrive()
                    self._next_arrival += self._random.expovariate(self.rate)
                elif due == self._next_report:
                    self._report_connections()
                    self._next_report += _CONNECTIONS_EVERY
                else:
                    self._report_drift()
                    self._next_drift += _DRIFT_EVERY
            self._now = until

    def _run(self) -> None:
        origin = time.monotonic()
        while not self._stop.wait(0.02):
            self.advance(time.monotonic() - origin)

    def _later(self, delay_ms: float, action: Callable[[], None]) -> None:
        # Events are built when due, so their timestamps are when they happen.
        heapq.heappush(self._pending, (self._now + delay_ms / 1000.0, next(self._sequence), action))

    def _arrive(self) -> None:
        rng = self._random
        profile = rng.choices(self.profiles, cum_weights=self._weights)[0]
        name, version = profile.model_name, profile.version
        request_id = f"req-{self.started}"
        self.started += 1
        self._in_flight[profile] += 1
        self.bus.emit(InferenceStarted(model_name=name, version=version, request_id=request_id))
        first_ms = profile.median_latency_ms * math.exp(rng.gauss(0.0, _SIGMA))
        if rng.random() < profile.error_rate:
            error_type = rng.choice(profile.error_types)
            self._later(first_ms, lambda: self._fail(profile, request_id, first_ms, error_type))
        elif profile.llm:
            output_tokens = rng.randint(50, 400)
            input_tokens = rng.randint(100, 2000)
            total_ms = first_ms + output_tokens * profile.ms_per_token * math.exp(
                rng.gauss(0.0, 0.1)
            )
            self._later(
                first_ms,
                lambda: self.bus.emit(
                    FirstTokenReceived(
                        model_name=name,
                        version=version,
                        time_to_first_token_ms=first_ms,
                        request_id=request_id,
                    )
                ),
            )
            self._later(
                total_ms,
                lambda: self._finish(
                    profile,
                    InferenceCompleted(
                        model_name=name,
                        version=version,
                        duration_ms=total_ms,
                        request_id=request_id,
                        time_to_first_token_ms=first_ms,
                        input_tokens=input_tokens,
                        output_tokens=output_tokens,
                        cost_usd=(input_tokens * 0.5 + output_tokens * 1.5) / 1_000_000,
                    ),
                ),
            )
        else:
            truth = rng.choice(profile.classes)
            right = rng.random() < profile.accuracy
            predicted = truth if right else rng.choice([c for c in profile.classes if c != truth])
            confidence = rng.uniform(0.7, 1.0) if right else rng.uniform(0.4, 0.8)
            labelled = rng.random() < 0.2
            self._later(
                first_ms,
                lambda: self._finish(
                    profile,
                    InferenceCompleted(
                        model_name=name,
                        version=version,
                        duration_ms=first_ms,
                        request_id=request_id,
                        confidence=confidence,
                        predicted_class=predicted,
                    ),
                ),
            )
            if labelled:
                self._later(
                    first_ms + _LABEL_DELAY * 1000.0,
                    lambda: self.bus.emit(
                        PredictionEvaluated(
                            model_name=name, version=version, expected=truth, actual=predicted
                        )
                    ),
                )

    def _finish(self, profile: VersionProfile, event: InferenceCompleted) -> None:
        self._in_flight[profile] -= 1
        self.finished += 1
        self.bus.emit(event)

    def _fail(
        self, profile: VersionProfile, request_id: str, duration_ms: float, error_type: str
    ) -> None:
        self._in_flight[profile] -= 1
        self.finished += 1
        self.errors += 1
        name, version = profile.model_name, profile.version
        self.bus.emit(
            InferenceFailed(
                model_name=name,
                version=version,
                duration_ms=duration_ms,
                error_type=error_type,
                request_id=request_id,
            )
        )
        if error_type in _RETRYABLE:
            self.bus.emit(
                RetryAttempted(
                    model_name=name,
                    version=version,
                    attempt=1,
                    error_type=error_type,
                    delay_ms=self._random.uniform(50.0, 250.0),
                )
            )

    def _report_connections(self) -> None:
        for profile, count in self._in_flight.items():
            self.bus.emit(
                ActiveConnectionsChanged(
                    model_name=profile.model_name, version=profile.version, count=count
                )
            )

    def _report_drift(self) -> None:
        for profile in self.profiles:
            score = max(0.0, self._random.gauss(profile.drift, 0.03))
            self.bus.emit(
                DriftMeasured(
                    model_name=profile.model_name,
                    version=profile.version,
                    kind="psi",
                    score=score,
                    threshold=0.2,
                )
            )
