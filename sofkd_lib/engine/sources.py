"""Where training batches and validation scores come from: the data sampler, or synthetic textures (tests, CI)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.engine.config import (
    TrainConfig,
)
from sofkd_lib.engine.distributed import (
    DistInfo,
    resolve_device,
)
from sofkd_lib.evaluation.metrics import psnr


class BatchSource(Protocol):
    def sample(self, batch_size: int) -> tuple[Any, Any]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


#: ``validate(model) -> {"psnr": dB, ...}``; called on rank 0 with the model in eval mode.
Validator = Callable[[SOFVSR], Mapping[str, float]]


class SyntheticSource:
    """Moving smooth random textures: a data-free batch source for tests and CI.

    Each sample is a bicubic-upsampled noise image; frame t is a crop shifted by
    ``(t - c)·v`` HR pixels, v a random integer velocity in [-2, 2]²; LR frames
    are the HR frames average-pooled by ``scale``. Deterministic from ``seed``.
    """

    def __init__(self, scale: int = 4, patch_size: int = 32, n_frames: int = 3, seed: int = 0):
        self.scale, self.patch_size, self.n_frames = scale, patch_size, n_frames
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        s, p, t = self.scale, self.patch_size, self.n_frames
        hp, c, margin = s * p, t // 2, 2 * (t // 2)
        size = hp + 2 * margin
        grid = max(2, hp // 8)
        noise = torch.rand(batch_size, 1, grid, grid, generator=self.generator)
        big = F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
        velocity = torch.randint(-2, 3, (batch_size, 2), generator=self.generator)
        hr = torch.empty(batch_size, t, 1, hp, hp)
        for b in range(batch_size):
            for i in range(t):
                dy, dx = (margin + (i - c) * velocity[b]).tolist()
                hr[b, i] = big[b, :, dy : dy + hp, dx : dx + hp]
        lr = F.avg_pool2d(hr.view(-1, 1, hp, hp), s).view(batch_size, t, 1, p, p)
        return lr, hr

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def synthetic_validator(config: TrainConfig, n_samples: int = 4) -> Validator:
    """PSNR on a fixed synthetic batch (seed apart from training's)."""
    lr, hr = SyntheticSource(config.scale, config.patch_size, config.n_frames, 10_007 + config.seed).sample(n_samples)

    def validate(model: SOFVSR) -> dict[str, float]:
        device = next(model.parameters()).device
        sr = model(lr.to(device)).clamp(0, 1).cpu()
        return {"psnr": psnr(sr.numpy(), hr[:, config.n_frames // 2].numpy(), data_range=1.0)}

    return validate


def training_splits(config: TrainConfig) -> tuple[str, str]:
    """The (training, validation) splits :func:`sofkd_lib.data.load_split` reads for ``config.dataset``.

    DAVIS: DAVIS-2017 train or our train pool (``davis_pool``), validated on our validation sequences; the
    held-out test column (``sofkd_lib.data.datasets.DAVIS_HELD_OUT``) is never read here.
    """
    if config.dataset == "davis":
        return ("train" if config.davis_pool == "train" else "train-pool"), "validation"
    return "train", "val"


def make_source(config: TrainConfig, info: DistInfo | None = None) -> BatchSource:
    """The training batch source ``config`` names, seeded per DDP rank."""
    info = info or DistInfo()
    seed = config.seed + 1_000_003 * info.rank
    if config.dataset == "synthetic":
        return SyntheticSource(config.scale, config.patch_size, config.n_frames, seed)
    from sofkd_lib.data import TrainSampler, load_split

    clips = load_split(config.dataset, training_splits(config)[0], root=config.data_root)
    kwargs = {"scale": config.scale, "patch_size": config.patch_size, "n_frames": config.n_frames, "seed": seed,
              "degradation": config.degradation, "augment": config.augment}
    if config.sampler == "device":
        from sofkd_lib.data.device_sampler import DeviceSampler

        return DeviceSampler(clips, **kwargs, device=resolve_device(config.device, info))
    if config.lr_frame_cache:
        from sofkd_lib.settings import cache_dir

        kwargs["lr_cache_dir"] = cache_dir() / "lr-frames"
    return TrainSampler(clips, **kwargs)


def make_validator(config: TrainConfig, device: torch.device) -> Validator | None:
    """Validation on the validation split of ``config.dataset`` (:func:`training_splits`; embedded: its test
    split; None when ``val_every`` is 0)."""
    if config.val_every == 0:
        return None
    if config.dataset == "synthetic":
        return synthetic_validator(config)
    from sofkd_lib.data import load_split
    from sofkd_lib.evaluation.evaluate import evaluate_model

    clips = load_split(config.dataset, training_splits(config)[1], root=config.data_root)

    def validate(model: SOFVSR) -> dict[str, float]:
        result = evaluate_model(model, clips, config.scale, device=device, max_frames=config.val_max_frames)
        average = result["average"]
        return {k: float(v) for k, v in average.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    return validate
