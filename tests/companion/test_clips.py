"""sofkd_lib.companion.clips: the data chapter's clip listing."""
import numpy as np

from sofkd_lib.companion.clips import clip_rows
from sofkd_lib.data.datasets import Clip


def test_clip_rows():
    clips = [Clip("a", np.zeros((4, 6, 8, 3), np.uint8), "video x"), Clip("b", np.zeros((3, 3, 5, 3), np.uint8), "photo y")]
    assert clip_rows(clips, "test") == [
        {"split": "test", "clip": "a", "frames": 4, "H×W": "6×8", "ground-truth flow": "no", "source": "video x"},
        {"split": "test", "clip": "b", "frames": 3, "H×W": "3×5", "ground-truth flow": "no", "source": "photo y"},
    ]
    assert clip_rows([], "train") == []
