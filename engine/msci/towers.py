"""open_clip glue for MSCI, without forking CLIP: the adapters enter the frozen visual blocks through
forward hooks, the per-layer tokens come from open_clip's own `Transformer.forward_intermediates`, and
soft prompts run through the model's own text transformer (what `CLIP.encode_text` composes:
token embedding + positional embedding + transformer + ln_final + projection at the EOT token)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from open_clip.transformer import VisionTransformer, text_global_pool
from torch import nn


def visual_tower(model: nn.Module) -> VisionTransformer:
    """`model.visual` as open_clip's ViT: nn.Module's `__getattr__` types it `Tensor | Module`.

    Only for models `unsupported` accepted (it checks the isinstance at run time)."""
    return cast(VisionTransformer, model.visual)


def unsupported(model: nn.Module) -> str | None:
    """Why MSCI cannot run on this open_clip model, in one line; None when it can."""
    if not isinstance(getattr(model, "visual", None), VisionTransformer):
        return "MSCI needs an open_clip ViT image tower (its blocks carry the adapters)"
    v = visual_tower(model)
    if getattr(v, "attn_pool", None) is not None or v.proj is None:
        return "MSCI needs a ViT tower with a projection and no attention pooling"
    try:
        text_parts(model)
    except ValueError as e:
        return str(e)
    return None


@dataclass
class TextParts:
    """The pieces of an open_clip text tower that `encode_text` composes."""

    token_embedding: nn.Embedding
    positional_embedding: torch.Tensor
    transformer: nn.Module
    ln_final: nn.Module
    text_projection: torch.Tensor | nn.Module | None
    attn_mask: torch.Tensor | None
    pool_type: str
    eos_id: int | None


def _parts_of(tower: Any, pool_type: str, eos_id: int | None) -> TextParts:
    """The fields both tower layouts share. `Any`: open_clip sets them as dynamic Module attributes
    (typed `Tensor | Module`); `text_parts` checks which layout the model has."""
    return TextParts(tower.token_embedding, tower.positional_embedding, tower.transformer, tower.ln_final,
                     tower.text_projection, tower.attn_mask, pool_type, eos_id)


def text_parts(model: nn.Module) -> TextParts:
    """The text tower of a `CLIP` (fields on the model) or a `CustomTextCLIP` with an open_clip tower."""
    if hasattr(model, "token_embedding"):
        return _parts_of(model, getattr(model, "text_pool_type", "argmax"), getattr(model, "text_eos_id", None))
    t = getattr(model, "text", None)
    if t is not None and hasattr(t, "token_embedding") and getattr(t, "cls_emb", None) is None \
            and not getattr(t, "use_pad_mask", False):
        return _parts_of(t, t.pool_type, getattr(t, "eos_id", None))
    raise ValueError("MSCI needs an open_clip text transformer (not a Hugging Face text tower) for its soft prompts")


def encode_token_embeddings(parts: TextParts, token_ids: torch.Tensor, embeds: torch.Tensor) -> torch.Tensor:
    """[N, L] token ids (for the EOT position) + [N, L, W] token embeddings -> [N, D] text features.

    L may be shorter than the model's context: with a causal mask the EOT output never sees the
    positions after it, so cutting the padding off changes nothing.
    """
    n_tok = embeds.shape[1]
    get_cast_dtype = getattr(parts.transformer, "get_cast_dtype", None)
    dtype: torch.dtype = get_cast_dtype() if get_cast_dtype is not None else embeds.dtype
    x = embeds.to(dtype) + parts.positional_embedding[:n_tok].to(dtype)
    mask = parts.attn_mask[:n_tok, :n_tok] if parts.attn_mask is not None else None
    # the modules' __call__ and open_clip's untyped pool return Any: name the tensors
    hidden: torch.Tensor = parts.ln_final(parts.transformer(x, attn_mask=mask))
    pooled: torch.Tensor = text_global_pool(hidden, token_ids, parts.pool_type, eos_token_id=parts.eos_id)
    proj = parts.text_projection
    if proj is None:
        return pooled
    if isinstance(proj, nn.Module):
        out: torch.Tensor = proj(pooled)
        return out
    return pooled @ proj


def frozen_tokens(visual: VisionTransformer, images: torch.Tensor) -> torch.Tensor:
    """Everything before the first adapter (patch embedding, class token, positions, ln_pre):
    [B, 3, S, S] -> [B, 1 + P, width]. Frozen, so a trainer computes it once per image."""
    tokens: torch.Tensor = visual._embeds(images)
    return tokens


class AdapterHooks:
    """Adds MSCI's parallel adapters to every block of an open_clip ViT through forward hooks:
    x + attn(ln_1(x)) + A_i(x), then x + mlp(ln_2(x)) + A_{i+L}(x), as in the authors'
    `encode_image_with_adapter` (adapter i on the attention branch, i + layers on the MLP)."""

    def __init__(self, visual: VisionTransformer, adapters: nn.ModuleList) -> None:
        blocks = visual.transformer.resblocks
        if len(adapters) != 2 * len(blocks):
            raise ValueError(f"{len(adapters)} adapters for {len(blocks)} blocks (need two per block)")
        self._handles = []
        for i, blk in enumerate(blocks):
            for norm, scale, adapter in ((blk.ln_1, blk.ls_1, adapters[i]),
                                         (blk.ln_2, blk.ls_2, adapters[i + len(blocks)])):
                seen: dict[str, torch.Tensor] = {}
                self._handles.append(norm.register_forward_pre_hook(self._keep(seen)))
                self._handles.append(scale.register_forward_hook(self._add(seen, adapter)))

    @staticmethod
    def _keep(seen: dict[str, torch.Tensor]) -> Callable:
        def hook(_mod: nn.Module, args: tuple) -> None:
            seen["x"] = args[0]  # the block's residual stream entering this branch
        return hook

    @staticmethod
    def _add(seen: dict[str, torch.Tensor], adapter: nn.Module) -> Callable:
        def hook(_mod: nn.Module, _args: tuple, out: torch.Tensor) -> torch.Tensor:
            branch: torch.Tensor = adapter(seen.pop("x"))
            return out + branch
        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


def layer_tokens(visual: VisionTransformer, tokens: torch.Tensor, indices: list[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run the (adapter-hooked) blocks on frozen tokens; returns the pooled image feature [B, D] and
    the tokens of the blocks in `indices`, each through ln_post and the projection ([B, 1+P, D]),
    as the authors read every layer."""
    x, inter = visual.transformer.forward_intermediates(tokens, indices=indices)
    pooled, _ = visual._pool(x)
    pooled = pooled @ visual.proj
    return pooled, [visual.ln_post(t) @ visual.proj for t in inter]
