"""Dense (patch-token) region features for timm image towers: EVA, SigLIP and other timm ViTs.

open_clip's own ViT exposes its tokens (`ClipModel.encode_dense`); a timm tower hides them inside
`trunk.forward_head`. The MaskCLIP-style reading used for open_clip ViTs carries over: each patch
token goes through what the pooled token goes through after pooling (fc_norm, the trunk head,
open_clip's projection head). With attention pooling (SigLIP's MAP head) a single token attends
only to itself, so its pooled value is exactly proj(v(token)) plus the head's MLP residual; that
is what a patch contributes. Convolutional towers (MobileCLIP's FastViT, ConvNeXt) have no patch
tokens: `dense_unsupported` says so, and the caller turns it into a clear error.
"""

from __future__ import annotations

from typing import Any

import torch


def _timm_vit(visual: Any) -> Any:
    trunk = getattr(visual, "trunk", None)
    if trunk is None or not hasattr(trunk, "forward_features") or not hasattr(trunk, "num_prefix_tokens"):
        return None
    if getattr(getattr(trunk, "patch_embed", None), "grid_size", None) is None:
        return None
    return trunk


def dense_unsupported(visual: torch.nn.Module, model_id: str) -> str | None:
    """Why dense mode cannot read this tower's patches (one line), or None when it can."""
    trunk = getattr(visual, "trunk", None)
    if trunk is None:
        if hasattr(visual, "output_tokens") and getattr(visual, "proj", None) is not None and hasattr(visual, "ln_post"):
            return None
        kind = type(visual).__name__
    else:
        if _timm_vit(visual) is not None:
            ap = getattr(trunk, "attn_pool", None)
            if ap is None or (getattr(ap, "pos_embed", None) is None and getattr(ap, "latent_len", 1) == 1):
                return None
        kind = f"{type(trunk).__name__} ({getattr(trunk, 'default_cfg', {}).get('architecture', 'timm')})"
    return (f"dense region mode reads ViT patch tokens, and {model_id} has a {kind} image tower without them; "
            f"use --mode grid or --mode faithful")


def timm_encode_dense(visual: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """(pooled [B,D] as encode_image gives it, patch features [B,P,D], patch grid) of a timm ViT tower."""
    trunk = _timm_vit(visual)
    if trunk is None:
        raise ValueError("timm_encode_dense needs a timm ViT trunk (check dense_unsupported first)")
    feats = trunk.forward_features(x)
    pooled = visual.head(trunk.forward_head(feats))
    tok = feats[:, trunk.num_prefix_tokens:]
    ap = getattr(trunk, "attn_pool", None)
    if ap is not None:
        width = tok.shape[-1]
        tok = ap.proj(ap.kv(tok)[..., width:])  # kv = [keys | values]; one key → weight 1 on its value
        if getattr(ap, "mlp", None) is not None:
            tok = tok + ap.mlp(ap.norm(tok))
    tok = visual.head(trunk.head(trunk.fc_norm(tok)))
    g = trunk.patch_embed.grid_size
    return pooled, tok, (int(g[0]), int(g[1]))
