"""Data: degradation, colour, frame I/O, datasets, the embedded offline split, the training sampler."""
from sofkd_lib.data.color import rgb_to_y_matlab, rgb_to_ycbcr, rgb_uint8_to_y01, ycbcr_to_rgb
from sofkd_lib.data.datasets import (
    DAVIS10_SCENES,
    DAVIS_HELD_OUT,
    DAVIS_SET_LABELS,
    DAVIS_VALIDATION,
    PAPER_DAVIS_SET,
    Clip,
    LayeredMotion,
    detect_kind,
    load_dataset,
    load_split,
    set_name,
)
from sofkd_lib.data.io import DataError, natural_sorted, read_frames, read_image, read_video
from sofkd_lib.data.resize import DEGRADATIONS, degrade, imresize
from sofkd_lib.data.sampler import TrainSampler

__all__ = [
    "DAVIS10_SCENES",
    "DAVIS_HELD_OUT",
    "DAVIS_SET_LABELS",
    "DAVIS_VALIDATION",
    "DEGRADATIONS",
    "PAPER_DAVIS_SET",
    "Clip",
    "DataError",
    "LayeredMotion",
    "TrainSampler",
    "degrade",
    "detect_kind",
    "imresize",
    "load_dataset",
    "load_split",
    "natural_sorted",
    "read_frames",
    "read_image",
    "read_video",
    "rgb_to_y_matlab",
    "rgb_to_ycbcr",
    "rgb_uint8_to_y01",
    "set_name",
    "ycbcr_to_rgb",
]
