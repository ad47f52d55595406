"""Warp: the authors' 15.5-px flow unit, align_corners=True, border padding."""
import pytest
import torch

from sofkd_lib.archs.warp import FLOW_UNIT_PX, flow_warp, model_to_pixels, pixels_to_model


def _flow(b, h, w, dx_px, dy_px):
    f = torch.zeros(b, 2, h, w, dtype=torch.float64)
    f[:, 0] = pixels_to_model(torch.tensor(dx_px, dtype=torch.float64))
    f[:, 1] = pixels_to_model(torch.tensor(dy_px, dtype=torch.float64))
    return f


def test_flow_unit_is_15_5_pixels():
    assert FLOW_UNIT_PX == 15.5
    assert model_to_pixels(torch.tensor(2.0)).item() == 31.0
    assert pixels_to_model(torch.tensor(31.0)).item() == 2.0


def test_zero_flow_is_identity():
    img = torch.rand(2, 3, 9, 13, dtype=torch.float64)
    out = flow_warp(img, torch.zeros(2, 2, 9, 13, dtype=torch.float64))
    assert torch.allclose(out, img, atol=1e-12)


@pytest.mark.parametrize("dx,dy", [(3, 0), (0, -2), (2, 1), (-4, 3)])
def test_integer_shift_reproduces_shifted_image(dx, dy):
    img = torch.rand(1, 1, 20, 24, dtype=torch.float64)
    out = flow_warp(img, _flow(1, 20, 24, dx, dy))
    # out[y, x] = img[y + dy, x + dx] wherever that stays inside the image.
    ys = slice(max(0, -dy), 20 - max(0, dy))
    xs = slice(max(0, -dx), 24 - max(0, dx))
    expected = img[:, :, max(0, dy) : 20 + min(0, dy), max(0, dx) : 24 + min(0, dx)]
    assert (out[:, :, ys, xs] - expected).abs().max().item() < 1e-5


def test_integer_shift_in_float32_interior_error_below_1e5():
    img = torch.rand(1, 1, 32, 40)
    out = flow_warp(img, _flow(1, 32, 40, 5, -3).float())
    assert (out[:, :, 3:, :35] - img[:, :, :29, 5:]).abs().max().item() < 1e-5


def test_subpixel_shift_matches_bilinear_interpolation():
    img = torch.rand(1, 1, 10, 12, dtype=torch.float64)
    out = flow_warp(img, _flow(1, 10, 12, 0.3, 0.6))
    a = img[0, 0]
    expected = (0.4 * 0.7 * a[:-1, :-1] + 0.4 * 0.3 * a[:-1, 1:] + 0.6 * 0.7 * a[1:, :-1] + 0.6 * 0.3 * a[1:, 1:])
    assert torch.allclose(out[0, 0, :-1, :-1], expected, atol=1e-10)


def test_border_padding_clamps_to_edge():
    img = torch.arange(6, dtype=torch.float64).view(1, 1, 1, 6).expand(1, 1, 4, 6).contiguous()
    out = flow_warp(img, _flow(1, 4, 6, 100, 0))
    assert torch.allclose(out, torch.full_like(out, 5.0))


def test_flow_unit_is_resolution_independent():
    # The same network flow value moves 15.5 px at any width (31 / (W - 1) scaling).
    for w in (40, 80):
        img = torch.arange(w, dtype=torch.float64).view(1, 1, 1, w).expand(1, 1, 2, w).contiguous()
        f = torch.zeros(1, 2, 2, w, dtype=torch.float64)
        f[:, 0] = 1.0
        out = flow_warp(img, f)
        assert out[0, 0, 0, 0].item() == pytest.approx(15.5, abs=1e-9)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="flow"):
        flow_warp(torch.rand(1, 1, 4, 4), torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="does not match"):
        flow_warp(torch.rand(1, 1, 4, 4), torch.rand(1, 2, 4, 5))
