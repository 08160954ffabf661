"""Worker groups: several processes (uvicorn/gunicorn workers, pools) answering as one.

Opt in with ``INFERENCE_METRICS_MULTIPROC_DIR`` or ``Metrics(multiproc=...)``;
see docs/integrations.md ("Running with several workers") and docs/architecture.md.
"""

from metrics_core.workers._merge import GAUGE_MODES, GaugeMode
from metrics_core.workers._options import (
    MULTIPROC_DIR_ENV,
    MULTIPROC_INTERVAL_ENV,
    StartRule,
    WorkerGroupOptions,
)
from metrics_core.workers._registry import GroupRegistry
from metrics_core.workers.group import WorkerGroup

__all__ = [
    "GAUGE_MODES",
    "MULTIPROC_DIR_ENV",
    "MULTIPROC_INTERVAL_ENV",
    "GaugeMode",
    "GroupRegistry",
    "StartRule",
    "WorkerGroup",
    "WorkerGroupOptions",
]
