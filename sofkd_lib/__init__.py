"""sofkd_lib: reproducible knowledge distillation for SOF-VSR (Lee & Park, JCSE 2023)."""
from .models import SOFVSR, FlowPyramid, OFRnet, SRnet, count_parameters, student, teacher
from .official import load_official
from .pretrained import list_pretrained, pretrained
from .warp import FLOW_UNIT_PX, flow_warp, model_to_pixels, pixels_to_model

__version__ = "0.1.0"

__all__ = [
    "SOFVSR", "OFRnet", "SRnet", "FlowPyramid", "teacher", "student", "count_parameters",
    "load_official", "pretrained", "list_pretrained", "flow_warp", "model_to_pixels", "pixels_to_model", "FLOW_UNIT_PX",
]
