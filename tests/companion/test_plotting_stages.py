"""sofkd_lib.companion.plotting.module_stages: the boxes of the architecture drawings, read from the modules."""
from torch import nn

from sofkd_lib.archs.sofvsr_arch import CascadedResBlocks, teacher
from sofkd_lib.companion.plotting import module_stages


def test_module_stages_of_a_small_chain():
    seq = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.LeakyReLU(0.1), CascadedResBlocks(2, 8),
                        nn.Conv2d(8, 16, 1), nn.PixelShuffle(2))
    assert module_stages(seq) == [("conv 3×3", "1→8"), ("2× ResBlock", "8 ch"), ("conv 1×1", "8→16"),
                                  ("pixel shuffle", "×2")]


def test_module_stages_of_the_teacher_srnet_reads_320_channels():
    stages = module_stages(teacher(4).srnet.body)
    assert ("8× ResBlock", "320 ch") in stages
    assert stages[0] == ("conv 3×3", "33→320")  # the x4 draft cube: 1 + 2·4² channels
