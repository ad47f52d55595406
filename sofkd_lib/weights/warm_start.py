"""Warm start: initialise a teacher from the SOF-VSR authors' released weights (any scale)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.weights.checkpoint import (
    CheckpointError,
    architecture_of,
    require_file,
)


def _official_any_scale(path: Path) -> SOFVSR:
    """The authors' weights at whatever scale the file holds (read from the file)."""
    from sofkd_lib.weights.checkpoint import load_model

    return load_model(path, official=True, role="warm_start")


def _final_conv_keys(model: SOFVSR) -> dict[str, str]:
    """Role → key prefix of the last conv of OFRnet's head and of SRnet (their index depends on the scale)."""
    return {"ofrnet_last": f"ofrnet.upsampler.{len(model.ofrnet.upsampler) - 1}.",
            "srnet_last": f"srnet.body.{len(model.srnet.body) - 1}."}


def _source_key(key: str, target: dict[str, str], source: dict[str, str]) -> str | None:
    """The source tensor playing ``key``'s role: the same name, except that final convs map to final convs."""
    for role, prefix in target.items():
        if key.startswith(prefix):
            return source[role] + key[len(prefix):]
    if any(key.startswith(prefix) for prefix in source.values()):
        return None  # same name, other role (e.g. a x2 final conv vs a x4 second sub-pixel stage)
    return key


@torch.no_grad()
def warm_start_official(model: SOFVSR, path: str | os.PathLike, derive: bool = False) -> dict[str, Any]:
    """Initialise ``model`` from the authors' SOF-VSR weights at ``path`` (any scale); returns a report.

    Every tensor whose role (the same layer; the last conv of each part counts as
    the same layer whatever the scale) and shape match is copied. At another scale
    the first SRnet conv (its input holds s² warped copies per neighbour) and, x2 → x4,
    the second sub-pixel stage have no counterpart: they keep their fresh values,
    or with ``derive``: the first conv takes, for each of the s×s sub-positions, the
    source's weight of the sub-position covering it divided by how many share it, and
    the extra stage starts as nearest-neighbour replication (PixelShuffle of copies).
    The global torch RNG is left as it was (loading builds a model).
    """
    path = require_file(path, "warm_start: official checkpoint")
    rng = torch.get_rng_state()
    try:
        src_model = _official_any_scale(path)
    finally:
        torch.set_rng_state(rng)
    theirs, mine = architecture_of(src_model), architecture_of(model)
    if (theirs.ofrnet_channels, theirs.srnet_channels) != (mine.ofrnet_channels, mine.srnet_channels):
        raise CheckpointError(f"warm_start {path}: it holds {theirs.describe()}, the model is {mine.describe()}; "
                              f"the ResBlock widths must match")
    src, ours = src_model.state_dict(), model.state_dict()
    target_roles, source_roles = _final_conv_keys(model), _final_conv_keys(src_model)
    transferred, derived, fresh = [], [], []
    for key, value in ours.items():
        skey = _source_key(key, target_roles, source_roles)
        if skey is not None and skey in src and tuple(src[skey].shape) == tuple(value.shape):
            value.copy_(src[skey])
            transferred.append(key if skey == key else f"{key} <- {skey}")
        else:
            fresh.append(key)
    if derive:
        derived = _derive_scale_specific(model, src_model, ours, src, fresh)
        fresh = [k for k in fresh if k not in {d.split(" ")[0] for d in derived}]
    if not transferred:
        raise CheckpointError(f"warm_start {path}: no tensor matches the model ({architecture_of(model).describe()})")
    return {"source": str(path), "source_scale": src_model.scale, "target_scale": model.scale,
            "derive": derive, "transferred": transferred, "derived": derived, "fresh": fresh,
            "transferred_parameters": int(sum(ours[k.split(" ")[0]].numel() for k in transferred)),
            "total_parameters": int(sum(v.numel() for v in ours.values()))}


def _derive_scale_specific(model: SOFVSR, src_model: SOFVSR, ours: dict[str, torch.Tensor],
                           src: dict[str, torch.Tensor], fresh: list[str]) -> list[str]:
    """See :func:`warm_start_official` (``derive``); returns the derived keys, each with its rule."""
    done = []
    s, k = model.scale, src_model.scale
    first = "srnet.body.0.weight"
    w_t, w_s = ours[first], src[first]
    n_neigh = model.n_frames - 1
    if first in fresh and w_t.shape[0] == w_s.shape[0] and w_s.shape[1] == 1 + n_neigh * k * k:
        w_t[:, 0] = w_s[:, 0]
        cover = [[(i * k // s, j * k // s) for j in range(s)] for i in range(s)]
        share = {}
        for row in cover:
            for ij in row:
                share[ij] = share.get(ij, 0) + 1
        for n in range(n_neigh):
            for i in range(s):
                for j in range(s):
                    a, b = cover[i][j]
                    w_t[:, 1 + n * s * s + i * s + j] = w_s[:, 1 + n * k * k + a * k + b] / share[(a, b)]
        done.append(f"{first} (sub-position average of the x{k} source)")
    if s == 4 and k == 2:
        for key in ("ofrnet.upsampler.4.weight", "srnet.body.6.weight"):
            w = ours[key]  # (64·4, 64, 1, 1) before PixelShuffle(2): out channel c·4 + q reads channel c
            if key in fresh and tuple(w.shape) == (256, 64, 1, 1):
                w.zero_()
                for c in range(64):
                    w[c * 4 : c * 4 + 4, c, 0, 0] = 1.0
                done.append(f"{key} (nearest-neighbour replication)")
    return done
