"""edge-spec: speculative decoding for laptops and AI PCs on OpenVINO and ONNX Runtime."""

__version__ = "0.1.0"

from edge_spec.errors import BundleError, DeviceError, EdgeSpecError, ExportError
from edge_spec.pipeline import GenerationConfig, GenerationResult, Pipeline

__all__ = [
    "BundleError",
    "DeviceError",
    "EdgeSpecError",
    "ExportError",
    "GenerationConfig",
    "GenerationResult",
    "Pipeline",
    "__version__",
]
