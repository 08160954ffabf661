"""Collectors: subscribe to events, record metrics.

``SystemCollector`` needs psutil (extra ``system``) and ``GpuCollector``
nvidia-ml-py (extra ``gpu``); both import them only when constructed, so this
package imports without them.
"""

from collectors.base import BaseCollector, Collector
from collectors.gpu import GpuCollector
from collectors.http import HttpCollector
from collectors.inference import InferenceCollector
from collectors.llm import LlmCollector
from collectors.pricing import ModelPrice, PriceTable
from collectors.quality import QualityCollector
from collectors.reliability import ReliabilityCollector
from collectors.system import SystemCollector

__all__ = [
    "BaseCollector",
    "Collector",
    "GpuCollector",
    "HttpCollector",
    "InferenceCollector",
    "LlmCollector",
    "ModelPrice",
    "PriceTable",
    "QualityCollector",
    "ReliabilityCollector",
    "SystemCollector",
]
