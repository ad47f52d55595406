"""Data: degradation, colour, frame I/O, datasets, the embedded offline split, the training sampler."""
from .color import rgb_to_y_matlab, rgb_to_ycbcr, rgb_uint8_to_y01, ycbcr_to_rgb
from .datasets import Clip, LayeredMotion, detect_kind, load_dataset, load_split
from .io import DataError, natural_sorted, read_frames, read_image, read_video
from .resize import DEGRADATIONS, degrade, imresize
from .sampler import TrainSampler

__all__ = [
    "imresize", "degrade", "DEGRADATIONS",
    "rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_y_matlab", "rgb_uint8_to_y01",
    "Clip", "LayeredMotion", "load_split", "load_dataset", "detect_kind",
    "DataError", "natural_sorted", "read_frames", "read_image", "read_video",
    "TrainSampler",
]
