"""SOF-VSR (Wang et al., TIP 2020) as released by its authors, teacher and student.

The module tree mirrors the authors' ``modules.py`` one to one (same layers, same
order, same bias settings), so their checkpoints load by a pure renaming of the
two top-level prefixes (see :mod:`sofkd_lib.weights.official`).

Shapes: ``lr`` is (B, T, 1, h, w), Y in [0, 1], T odd, h and w even.
Flows are returned per level as (B, T-1, 2, h_l, w_l) in network units
(1 unit = 15.5 px, see :mod:`sofkd_lib.archs.warp`), neighbours in frame order.

Every ``forward`` here is plain PyTorch, to be read beside the paper and the
authors' code. A faster execution of the same modules (CPU fused kernels, fewer
copies in training) is opted into per model:
:func:`sofkd_lib.ops.cpu_execution.use_fast_execution`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from sofkd_lib.archs.warp import flow_warp

TEACHER_CHANNELS = 320
STUDENT_CHANNELS = 240
SUPPORTED_SCALES = (2, 3, 4)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet channel shuffle: interleave ``groups`` equal channel groups."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ResBlock(nn.Module):
    """The authors' ``ResB``: half the channels pass through, the other half go
    through 1x1 → LeakyReLU → depthwise 3x3 → 1x1 → LeakyReLU, then a 2-group
    channel shuffle mixes the halves."""

    def __init__(self, channels: int):
        super().__init__()
        if channels % 2:
            raise ValueError(f"ResBlock channels must be even, got {channels}")
        half = channels // 2
        self.body = nn.Sequential(
            nn.Conv2d(half, half, 1, 1, 0, bias=False),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(half, half, 3, 1, 1, bias=False, groups=half),
            nn.Conv2d(half, half, 1, 1, 0, bias=False),
            nn.LeakyReLU(0.1, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        passed, processed = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat((passed, self.body(processed)), 1), 2)


class CascadedResBlocks(nn.Module):
    """``n`` ResBlocks in sequence (the authors' ``CasResB``)."""

    def __init__(self, n_blocks: int, channels: int):
        super().__init__()
        self.body = nn.Sequential(*[ResBlock(channels) for _ in range(n_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _subpixel_upsampler(channels: int, scale: int) -> list[nn.Module]:
    """1x1 conv + PixelShuffle stages to 64 feature maps at ``scale``x (x4 = two x2 stages)."""
    if scale not in SUPPORTED_SCALES:
        raise ValueError(f"scale must be one of {SUPPORTED_SCALES}, got {scale}")
    if scale == 4:
        return [
            nn.Conv2d(channels, 64 * 4, 1, 1, 0, bias=False),
            nn.PixelShuffle(2),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(64, 64 * 4, 1, 1, 0, bias=False),
            nn.PixelShuffle(2),
            nn.LeakyReLU(0.1, inplace=True),
        ]
    return [
        nn.Conv2d(channels, 64 * scale**2, 1, 1, 0, bias=False),
        nn.PixelShuffle(scale),
        nn.LeakyReLU(0.1, inplace=True),
    ]


class FlowPyramid(NamedTuple):
    """Flows of one neighbour→centre pair stack, levels ½ LR, LR and HR (network units)."""

    half: torch.Tensor
    lr: torch.Tensor
    hr: torch.Tensor


class OFRnet(nn.Module):
    """Optical flow reconstruction net: one recurrent module shared by all three levels.

    ``recurrent_features`` (conv + 3 ResBlocks) runs at every level; at ½ LR and LR
    ``recurrent_flow`` (conv to 2 channels) turns its features into the flow, and at
    level 3 they continue through 3 more ResBlocks and a sub-pixel head (``upsampler``)
    that outputs the HR flow residual."""

    def __init__(self, scale: int = 4, channels: int = TEACHER_CHANNELS):
        super().__init__()
        self.scale = scale
        self.recurrent_features = nn.Sequential(  # authors: RNN1
            nn.Conv2d(4, channels, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.1, inplace=True),
            CascadedResBlocks(3, channels),
        )
        self.recurrent_flow = nn.Sequential(  # authors: RNN2
            nn.Conv2d(channels, 2, 3, 1, 1, bias=False),
        )
        self.upsampler = nn.Sequential(  # authors: SR
            CascadedResBlocks(3, channels),
            *_subpixel_upsampler(channels, scale),
            nn.Conv2d(64, 2, 3, 1, 1, bias=False),
        )

    def forward(self, pair: torch.Tensor) -> FlowPyramid:
        """``pair`` is (B, 2, h, w): channel 0 the neighbour, channel 1 the centre."""
        neighbour, centre = pair[:, :1], pair[:, 1:2]
        # Level 1, ½ LR: start from zero flow.
        pooled = F.avg_pool2d(pair, 2)
        zeros = pooled.new_zeros(pooled.shape[0], 2, *pooled.shape[2:])
        flow_half = self.recurrent_flow(self.recurrent_features(torch.cat((pooled, zeros), 1)))
        # Upsampling a flow by k multiplies its pixel displacement, hence its value, by k.
        flow_half_up = F.interpolate(flow_half, scale_factor=2, mode="bilinear", align_corners=False) * 2
        # Level 2, LR: refine the upsampled level-1 flow.
        warped = flow_warp(neighbour, flow_half_up)
        flow_lr = self.recurrent_flow(self.recurrent_features(torch.cat((warped, centre, flow_half_up), 1)))
        flow_lr = flow_lr + flow_half_up
        # Level 3, HR: sub-pixel head on the shared features, plus the upsampled LR flow.
        warped = flow_warp(neighbour, flow_lr)
        flow_lr_up = F.interpolate(flow_lr, scale_factor=self.scale, mode="bilinear", align_corners=False)
        flow_hr = self.upsampler(self.recurrent_features(torch.cat((warped, centre, flow_lr), 1)))
        flow_hr = flow_hr + flow_lr_up * self.scale
        return FlowPyramid(flow_half, flow_lr, flow_hr)


class SRnet(nn.Module):
    """Conv, 8 ResBlocks, sub-pixel upsampling, conv to the SR Y channel."""

    def __init__(self, scale: int = 4, channels: int = TEACHER_CHANNELS, n_frames: int = 3):
        super().__init__()
        in_channels = scale**2 * (n_frames - 1) + 1
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.1, inplace=True),
            CascadedResBlocks(8, channels),
            *_subpixel_upsampler(channels, scale),
            nn.Conv2d(64, 1, 3, 1, 1, bias=True),
        )

    def forward(self, draft_cube: torch.Tensor) -> torch.Tensor:
        return self.body(draft_cube)


def motion_compensate(lr: torch.Tensor, flow_hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Build the draft cube from LR frames and HR flows, in one sampling call.

    ``lr`` (B, T, 1, h, w); ``flow_hr`` (B, T-1, 2, s·h, s·w) for the neighbours in
    frame order. Each HR flow is split space-to-depth into s² LR sub-flows (divided
    by s: an HR-pixel displacement is 1/s of an LR pixel); each sub-flow warps its
    neighbour. Returns (B, 1 + (T-1)·s², h, w): the centre, then for every neighbour
    its s² warped copies in (row offset, column offset) order, as the authors do.
    """
    b, t, _, h, w = lr.shape
    n = t - 1
    centre_idx = t // 2
    neighbours = torch.cat((lr[:, :centre_idx], lr[:, centre_idx + 1 :]), 1)  # (B, N, 1, h, w)
    s2 = scale * scale
    # pixel_unshuffle puts flow[c, i::s, j::s] at channel c·s² + i·s + j.
    sub = F.pixel_unshuffle(flow_hr.reshape(b * n, 2, h * scale, w * scale), scale)
    sub = sub.view(b * n, 2, s2, h, w).transpose(1, 2).reshape(b * n * s2, 2, h, w) / scale
    images = neighbours.reshape(b * n, 1, 1, h, w).expand(b * n, s2, 1, h, w).reshape(b * n * s2, 1, h, w)
    warped = flow_warp(images, sub).view(b, n * s2, h, w)
    return torch.cat((lr[:, centre_idx], warped), 1)


class SOFVSROutput(NamedTuple):
    """SR frame (B, 1, s·h, s·w) and the flow pyramid, each level (B, T-1, 2, h_l, w_l)."""

    sr: torch.Tensor
    flows: FlowPyramid


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one SOF-VSR network; the two parts may differ in width (the phase-1 hybrid)."""

    scale: int = 4
    n_frames: int = 3
    ofrnet_channels: int = TEACHER_CHANNELS
    srnet_channels: int = TEACHER_CHANNELS

    @property
    def channels(self) -> int:
        """SRnet's ResBlock width: the whole model's, unless OFRnet differs (:attr:`hybrid`)."""
        return self.srnet_channels

    @property
    def hybrid(self) -> bool:
        """Whether OFRnet and SRnet differ in width."""
        return self.ofrnet_channels != self.srnet_channels


def check_lr_shape(lr: torch.Tensor, n_frames: int | None = None) -> None:
    """Raise ValueError naming the shape when ``lr`` is not (B, T, 1, h, w), T odd, h, w even."""
    shape = tuple(lr.shape)
    if lr.dim() != 5:
        raise ValueError(f"lr must have shape (B, T, 1, h, w); got rank {lr.dim()} tensor of shape {shape}")
    if shape[2] != 1:
        raise ValueError(f"lr must hold one (Y) channel at dim 2; got shape {shape}")
    if shape[1] % 2 == 0:
        raise ValueError(f"lr must hold an odd number of frames T at dim 1; got shape {shape}")
    if n_frames is not None and shape[1] != n_frames:
        raise ValueError(f"model expects T={n_frames} frames; got shape {shape}")
    if shape[3] % 2 or shape[4] % 2:
        raise ValueError(f"lr height and width must be divisible by 2; got shape {shape}")


class SOFVSR(nn.Module):
    """SOF-VSR: OFRnet (``ofrnet``) estimates neighbour→centre flows, motion
    compensation builds a draft cube, SRnet (``srnet``) super-resolves the centre.

    ``SOFVSR(channels=320)`` is the paper's teacher, ``channels=240`` its student.
    ``ofrnet_channels`` / ``srnet_channels`` (None: ``channels``) set one part's
    width: ``SOFVSR(ofrnet_channels=320, srnet_channels=240)`` is the phase-1 model
    (the teacher's OFRnet before a student SRnet). Initial weights come from the
    global torch RNG, OFRnet's first.
    """

    def __init__(self, scale: int = 4, channels: int = TEACHER_CHANNELS, n_frames: int = 3, *,
                 ofrnet_channels: int | None = None, srnet_channels: int | None = None):
        super().__init__()
        if scale not in SUPPORTED_SCALES:
            raise ValueError(f"scale must be one of {SUPPORTED_SCALES}, got {scale}")
        if n_frames < 3 or n_frames % 2 == 0:
            raise ValueError(f"n_frames must be odd and >= 3, got {n_frames}")
        ofrnet_channels = channels if ofrnet_channels is None else ofrnet_channels
        srnet_channels = channels if srnet_channels is None else srnet_channels
        self.config = ModelConfig(scale, n_frames, ofrnet_channels, srnet_channels)
        self.scale = scale
        self.n_frames = n_frames
        self.ofrnet = OFRnet(scale, ofrnet_channels)
        self.srnet = SRnet(scale, srnet_channels, n_frames)
        # channels_last (NHWC) weights make every conv run NHWC: the depthwise and
        # 1x1 convs are faster so on CPU (bench/README.md), and under the fast
        # execution no layout reorders happen between layers (the plain channel
        # shuffle returns NCHW memory). Values and state-dict keys are unchanged.
        self.to(memory_format=torch.channels_last)

    def estimate_flows(self, lr: torch.Tensor) -> FlowPyramid:
        """Flows of every neighbour towards the centre, each level (B, T-1, 2, h_l, w_l)."""
        check_lr_shape(lr, self.n_frames)
        b, t, _, h, w = lr.shape
        c = t // 2
        neighbours = torch.cat((lr[:, :c], lr[:, c + 1 :]), 1)  # (B, N, 1, h, w)
        centre = lr[:, c : c + 1].expand_as(neighbours)
        # Neighbour-major batch, as the authors stack it: (N·B, 2, h, w).
        pairs = torch.cat((neighbours, centre), 2).transpose(0, 1).reshape(-1, 2, h, w)
        levels = self.ofrnet(pairs)
        return FlowPyramid(*(f.view(t - 1, b, *f.shape[1:]).transpose(0, 1) for f in levels))

    def super_resolve(self, lr: torch.Tensor, flows: FlowPyramid) -> torch.Tensor:
        """SR from LR frames and given flows (used to run a student SRnet on teacher flows)."""
        return self.srnet(motion_compensate(lr, flows.hr, self.scale))

    def forward_with_flows(self, lr: torch.Tensor) -> SOFVSROutput:
        flows = self.estimate_flows(lr)
        return SOFVSROutput(self.super_resolve(lr, flows), flows)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.forward_with_flows(lr).sr


def teacher(scale: int = 4, n_frames: int = 3) -> SOFVSR:
    """The paper's teacher, SOF-VSR with 320-channel ResBlocks."""
    return SOFVSR(scale, TEACHER_CHANNELS, n_frames)


def student(scale: int = 4, n_frames: int = 3) -> SOFVSR:
    """The paper's student, SOF-VSR with 240-channel ResBlocks."""
    return SOFVSR(scale, STUDENT_CHANNELS, n_frames)


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters in ``module``."""
    return sum(p.numel() for p in module.parameters())
