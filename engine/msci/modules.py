"""MSCI's trainable building blocks, as the authors' `model/Mutifuse_new.py` defines them
(same structure, initialisation and dropout placement; names kept so parameter names match)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from open_clip.transformer import QuickGELU
from torch import nn


class Adapter(nn.Module):
    """AdaptFormer bottleneck (down 64, ReLU, dropout, up, × 0.1), "lora" init: the up projection
    starts at zero, so an untrained model is exactly the frozen CLIP."""

    def __init__(self, d_model: int, bottleneck: int = 64, dropout: float = 0.1, scale: float = 0.1) -> None:
        super().__init__()
        self.n_embd = d_model
        self.down_size = bottleneck
        self.scale = float(scale)
        self.dropout = dropout
        self.down_proj = nn.Linear(d_model, bottleneck)
        self.non_linear_func = nn.ReLU()
        self.up_proj = nn.Linear(bottleneck, d_model)
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.down_proj.weight, a=math.sqrt(5))
            nn.init.zeros_(self.up_proj.weight)
            nn.init.zeros_(self.down_proj.bias)
            nn.init.zeros_(self.up_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The adapter branch only (the authors call it with add_residual=False)."""
        down = self.non_linear_func(self.down_proj(x))
        down = F.dropout(down, p=self.dropout, training=self.training)
        up: torch.Tensor = self.up_proj(down)  # nn.Module.__call__ returns Any
        return up * self.scale


class Disentangler(nn.Module):
    """Image feature -> a state (or object) feature: Linear, BatchNorm, ReLU, dropout 0.5."""

    def __init__(self, emb_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(emb_dim, emb_dim)
        self.bn1_fc = nn.BatchNorm1d(emb_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1_fc(self.fc1(x)))
        return F.dropout(x, training=self.training)


class MultiHeadAttention(nn.Module):
    """Plain multi-head attention with separate q/k/v projections (no bias) and an output projection."""

    def __init__(self, dim: int, num_heads: int = 8, proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        b, n, c = q.shape
        m = k.shape[1]
        h = self.num_heads
        q = self.q_proj(q).reshape(b, n, h, c // h).permute(0, 2, 1, 3)
        k = self.k_proj(k).reshape(b, m, h, c // h).permute(0, 2, 1, 3)
        v = self.v_proj(v).reshape(b, m, h, c // h).permute(0, 2, 1, 3)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        x = (self.attn_drop(attn) @ v).transpose(1, 2).reshape(b, n, c)
        out: torch.Tensor = self.proj_drop(self.proj(x))
        return out


class CrossAttentionLayer(nn.Module):
    """Text queries attend to image tokens, with residuals: q + attn(q, kv); q + MLP(LN(q))."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.cross_attn = MultiHeadAttention(d_model, nhead, proj_drop=dropout)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_model * 4), QuickGELU(), nn.Dropout(dropout),
                                 nn.Linear(d_model * 4, d_model))

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        q = q + self.cross_attn(q, kv, kv)
        mlp: torch.Tensor = self.dropout(self.mlp(self.norm(q)))
        return q + mlp


class _Stage(nn.Module):
    """LayerNorm on the image tokens, then a stack of cross-attention layers."""

    def __init__(self, d_model: int, num_heads: int, dropout: float, num_layers: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.cross_attn_layers = nn.ModuleList(
            [CrossAttentionLayer(d_model, num_heads, dropout) for _ in range(num_layers)])
        self.dropout = nn.Dropout(dropout)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        kv = self.norm(kv)
        for layer in self.cross_attn_layers:
            q = layer(q, kv)
        return q


class Stage1LocalAlignment(_Stage):
    """Stage 1: text features query the low-level aggregate (local alignment)."""


class Stage2GlobalFusion(_Stage):
    """Stage 2: stage 1's output queries the high-level aggregate (global fusion)."""


def concat_projection(n_layers: int, dim: int) -> nn.Sequential:
    """The aggregator: tokens of n layers concatenated on channels -> Linear -> LN -> ReLU -> Dropout 0.1."""
    return nn.Sequential(nn.Linear(n_layers * dim, dim), nn.LayerNorm(dim), nn.ReLU(), nn.Dropout(0.1))
