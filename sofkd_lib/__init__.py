"""sofkd_lib: reproducible knowledge distillation for SOF-VSR (Lee & Park, JCSE 2023)."""
from sofkd_lib.archs.sofvsr_arch import SOFVSR, FlowPyramid, OFRnet, SRnet, count_parameters, student, teacher
from sofkd_lib.archs.warp import FLOW_UNIT_PX, flow_warp, model_to_pixels, pixels_to_model
from sofkd_lib.weights.checkpoint import load_model
from sofkd_lib.weights.official import load_official
from sofkd_lib.weights.pretrained import list_pretrained, pretrained

__version__ = "0.1.0"

__all__ = [
    "FLOW_UNIT_PX",
    "SOFVSR",
    "FlowPyramid",
    "OFRnet",
    "SRnet",
    "count_parameters",
    "flow_warp",
    "list_pretrained",
    "load_model",
    "load_official",
    "model_to_pixels",
    "pixels_to_model",
    "pretrained",
    "student",
    "teacher",
]
