"""Flow warping exactly as the SOF-VSR authors define it.

The authors add ``flow * 31 / (W - 1)`` (and ``31 / (H - 1)`` vertically) to a
sampling grid normalised to [-1, 1] with ``align_corners=True``. One unit of
network flow therefore moves ``31 / (W - 1) * (W - 1) / 2 = 15.5`` pixels, at
every resolution. The networks and the loss weights of Eq. 3 and Eq. 7 live in
that unit; convert with :func:`model_to_pixels` for display and error measures.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

#: The authors' flow scale numerator: grid offset = flow * 31 / (size - 1).
FLOW_SCALE_NUMERATOR = 31.0
#: Pixels moved by one network flow unit (31 / 2).
FLOW_UNIT_PX = FLOW_SCALE_NUMERATOR / 2.0


def model_to_pixels(flow: torch.Tensor) -> torch.Tensor:
    """Convert a flow in network units to pixels of the grid it lives on."""
    return flow * FLOW_UNIT_PX


def pixels_to_model(flow_px: torch.Tensor) -> torch.Tensor:
    """Convert a flow in pixels to network units (inverse of :func:`model_to_pixels`)."""
    return flow_px / FLOW_UNIT_PX


def _base_grid(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """Identity sampling grid (1, h, w, 2) in align_corners=True coordinates."""
    # arange, not linspace: the ONNX exporter keeps arange symbolic in h and w,
    # whereas it froze a linspace grid to the traced size.
    ys = torch.arange(h, device=like.device, dtype=like.dtype) * (2.0 / (h - 1)) - 1.0
    xs = torch.arange(w, device=like.device, dtype=like.dtype) * (2.0 / (w - 1)) - 1.0
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1).unsqueeze(0)


def flow_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``image`` (B, C, H, W) by ``flow`` (B, 2, H, W) in network units.

    Output pixel (y, x) samples ``image`` at (y + 15.5·flow_y, x + 15.5·flow_x),
    bilinearly, with border padding and ``align_corners=True`` (the behaviour the
    authors' weights were trained with; PyTorch's default is False).
    """
    if image.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(
            f"flow_warp expects image (B, C, H, W) and flow (B, 2, H, W); "
            f"got image {tuple(image.shape)} and flow {tuple(flow.shape)}"
        )
    b, _, h, w = image.shape
    if flow.shape[0] != b or flow.shape[2:] != image.shape[2:]:
        raise ValueError(
            f"flow {tuple(flow.shape)} does not match image {tuple(image.shape)}"
        )
    if h < 2 or w < 2:
        raise ValueError(f"flow_warp needs H, W >= 2; got image {tuple(image.shape)}")
    # Scalars times tensors (not a new_tensor of the factors): the ONNX exporter
    # keeps the factors symbolic in h and w instead of freezing the traced size.
    offset = torch.stack(
        (flow[:, 0] * (FLOW_SCALE_NUMERATOR / (w - 1)), flow[:, 1] * (FLOW_SCALE_NUMERATOR / (h - 1))), dim=-1
    )
    grid = _base_grid(h, w, flow) + offset
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)
