"""Images -> the normalised pixel tensors MSCI's frozen image path takes (the engine's global view:
bicubic shorter-side resize, centre crop, the model's mean/std)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from PIL import Image

from engine.msci.model import MSCI
from engine.views import _normalise, global_view


def pixels(images: Iterable[Image.Image], image_size: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """[N, 3, S, S] CLIP-normalised pixels of RGB images."""
    views = [global_view(im, image_size) for im in images]
    if not views:
        return torch.zeros(0, 3, image_size, image_size)
    return _normalise(torch.stack(views), mean, std)


@torch.no_grad()
def frozen_tokens_of(model: MSCI, images: Iterable[Image.Image], image_size: int, mean: Sequence[float],
                     std: Sequence[float], batch_size: int = 256) -> torch.Tensor:
    """Cache MSCI's frozen image path (before the first adapter) for a stream of images, in batches."""
    out, batch = [], []
    for im in images:
        batch.append(im)
        if len(batch) == batch_size:
            out.append(model.frozen_tokens(pixels(batch, image_size, mean, std)))
            batch = []
    if batch:
        out.append(model.frozen_tokens(pixels(batch, image_size, mean, std)))
    return torch.cat(out) if out else torch.zeros(0)
