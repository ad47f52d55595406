"""sofkd_lib: reproducible knowledge distillation for SOF-VSR (Lee & Park, JCSE 2023)."""
from .models import SOFVSR, FlowPyramid, OFRnet, SRnet, count_parameters, student, teacher
from .official import load_official
from .pretrained import list_pretrained, pretrained
from .warp import FLOW_UNIT_PX, flow_warp, model_to_pixels, pixels_to_model

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
    "load_official",
    "model_to_pixels",
    "pixels_to_model",
    "pretrained",
    "student",
    "teacher",
]
