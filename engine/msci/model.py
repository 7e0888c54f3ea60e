"""The MSCI model (`MSCI` in the authors' `model/Mutifuse_new.py`) on a frozen open_clip model.

Trainable parameter groups carry the authors' names: `additional_visual_params` (adapters),
`soft_att_obj` (one soft word per state and object), `comp_ctx_vectors` / `attr_ctx_vectors` /
`obj_ctx_vectors` (the three branches' prompt contexts), `attr_disentangler`, `obj_disentangler`,
`concat_projection_low` / `concat_projection_high` (aggregators), `stage1_local_alignment`,
`stage2_global_fusion`, `lamda` / `lamda_2`. Everything under `clip.` is frozen.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from engine.msci.config import MSCIConfig, heads_for
from engine.msci.modules import (
    Adapter,
    Disentangler,
    Stage1LocalAlignment,
    Stage2GlobalFusion,
    concat_projection,
)
from engine.msci.towers import (
    AdapterHooks,
    encode_token_embeddings,
    frozen_tokens,
    layer_tokens,
    text_parts,
    unsupported,
    visual_tower,
)

#: open_clip's tokenizer: texts -> [N, L] token ids (its tokenizers are untyped callables)
Tokenizer = Callable[[list[str]], torch.Tensor]

#: names of the trainable parameter groups, as the authors' model names its attributes
PARAMETER_GROUPS: tuple[str, ...] = (
    "additional_visual_params", "soft_att_obj", "comp_ctx_vectors", "attr_ctx_vectors", "obj_ctx_vectors",
    "attr_disentangler", "obj_disentangler", "lamda", "lamda_2", "concat_projection_low",
    "concat_projection_high", "stage1_local_alignment", "stage2_global_fusion",
)


def layer_split(n_layers: int, low: int, high: int) -> tuple[list[int], list[int]]:
    """Block indices of the low- and high-level aggregates: the first `low` and the last `high`.

    The authors' split (`i < low` low, `i >= 24 - high` high) is this on ViT-L/14's 24 blocks; on a
    shallower tower the two sets may overlap (4 blocks, 3 + 3: low = 0-2, high = 1-3).
    """
    if not (1 <= low <= n_layers and 1 <= high <= n_layers):
        raise ValueError(f"{low} low / {high} high layers do not fit a tower of {n_layers} blocks")
    return list(range(low)), list(range(n_layers - high, n_layers))


class MSCI(nn.Module):
    """Three branches (pair, state, object) over states × objects; see the module docstring."""

    token_ids: torch.Tensor  # [3, L], a buffer (registered in `_build`)

    def __init__(self, clip_model: nn.Module, tokenizer: Tokenizer, states: Sequence[str], objects: Sequence[str],
                 config: MSCIConfig | None = None, *, seed: int | None = None) -> None:
        super().__init__()
        if seed is not None:  # the random init (adapters, heads) from the seed, not the global RNG
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build(clip_model, tokenizer, states, objects, config)
        else:
            self._build(clip_model, tokenizer, states, objects, config)

    def _build(self, clip_model: nn.Module, tokenizer: Tokenizer, states: Sequence[str], objects: Sequence[str],
               config: MSCIConfig | None) -> None:
        why = unsupported(clip_model)
        if why:
            raise ValueError(why)
        self.config = cfg = config or MSCIConfig()
        self.states = [s.replace(".", " ").replace("_", " ").lower() for s in states]
        self.objects = [o.replace(".", " ").replace("_", " ").lower() for o in objects]
        self.offset = len(self.states)
        # our own frozen copy: the hooks below never touch a model shared with the rest of the app
        self.clip = copy.deepcopy(clip_model).eval()
        for p in self.clip.parameters():
            p.requires_grad_(False)
        self.tokenizer = tokenizer
        visual = visual_tower(self.clip)
        self.num_layers = len(visual.transformer.resblocks)
        self.low_layers, self.high_layers = layer_split(self.num_layers, cfg.selected_low_layers,
                                                        cfg.selected_high_layers)
        out_dim = int(visual.output_dim)
        width = int(visual.transformer.width)

        token_ids, soft_att_obj, ctx = self._construct_soft_prompt()
        self.register_buffer("token_ids", token_ids, persistent=False)  # [3, L]
        self.soft_att_obj = nn.Parameter(soft_att_obj)
        self.comp_ctx_vectors = nn.Parameter(ctx[0])
        self.attr_ctx_vectors = nn.Parameter(ctx[1])
        self.obj_ctx_vectors = nn.Parameter(ctx[2])
        self.attr_dropout = nn.Dropout(cfg.attr_dropout)

        self.additional_visual_params = nn.ModuleList(
            [Adapter(width, cfg.adapter_dim, cfg.adapter_dropout) for _ in range(2 * self.num_layers)])
        self._hooks = AdapterHooks(visual, self.additional_visual_params)

        self.attr_disentangler = Disentangler(out_dim)
        self.obj_disentangler = Disentangler(out_dim)
        self.lamda = nn.Parameter(torch.ones(out_dim) * cfg.init_lamda)
        self.lamda_2 = nn.Parameter(torch.ones(out_dim) * cfg.init_lamda)
        self.concat_projection_low = concat_projection(cfg.selected_low_layers, out_dim)
        self.concat_projection_high = concat_projection(cfg.selected_high_layers, out_dim)
        self.stage1_local_alignment = Stage1LocalAlignment(
            out_dim, heads_for(out_dim, cfg.stage_1_num_heads), cfg.stage_1_dropout, cfg.stage_1_num_cmt_layers)
        self.stage2_global_fusion = Stage2GlobalFusion(
            out_dim, heads_for(out_dim, cfg.stage_2_num_heads), cfg.stage_2_dropout, cfg.stage_2_num_cmt_layers)

    # --- frozen parts -------------------------------------------------------------------------

    def train(self, mode: bool = True) -> MSCI:
        super().train(mode)
        self.clip.eval()  # frozen: no dropout or patch dropout in CLIP itself
        return self

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Everything learned (parameters and BatchNorm statistics), without the frozen CLIP."""
        return {k: v.detach().clone() for k, v in self.state_dict().items() if not k.startswith("clip.")}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("clip.")]
        if missing or unexpected:
            raise ValueError(f"MSCI parameters do not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]})")

    @torch.no_grad()
    def frozen_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """The cacheable part of the image path (before the first adapter): [B, 1+P, width]."""
        v = visual_tower(self.clip)
        return frozen_tokens(v, images.to(v.conv1.weight.dtype))

    # --- text side ----------------------------------------------------------------------------

    def _tokenize(self, texts: list[str]) -> torch.Tensor:
        return self.tokenizer(texts)

    def _construct_soft_prompt(self) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Template ids, one soft word per primitive (mean of its word-piece embeddings), and the
        three context prefixes initialised from "a photo of" (authors' `construct_soft_prompt`)."""
        cfg = self.config
        parts = text_parts(self.clip)
        emb = parts.token_embedding
        ids = self._tokenize(list(cfg.prompt_template))
        n_ctx = int(self.config.context_length)
        if parts.attn_mask is not None and parts.pool_type == "argmax" and int(ids.argmax(-1).max()) < n_ctx:
            ids = ids[:, :n_ctx]  # causal tower: positions after EOT never reach it (towers.py)
        words = self._tokenize(self.states + self.objects)
        with torch.no_grad():
            word_emb = emb(words.to(emb.weight.device)).float()
            eos = words.argmax(-1)
            pos = torch.arange(words.shape[1])
            inside = ((pos[None, :] >= 1) & (pos[None, :] < eos[:, None])).float()
            soft = (word_emb * inside[..., None]).sum(1) / inside.sum(1, keepdim=True).clamp_min(1)
            ctx_ids = self._tokenize(list(cfg.ctx_init))
            ctx_emb = emb(ctx_ids.to(emb.weight.device)).float()
        ctx = []
        for i, text in enumerate(cfg.ctx_init):
            n = int(ctx_ids[i].argmax()) - 1  # word pieces between SOT and EOT
            if n <= 0:
                raise ValueError(f"empty prompt context {text!r}")
            ctx.append(ctx_emb[i, 1:1 + n].clone())
        for i, template in enumerate(cfg.prompt_template):
            need = 1 + len(ctx[i]) + (2 if i == 0 else 1)
            if int(ids[i].argmax()) != need:
                raise ValueError(f"prompt template {template!r} does not hold its context and "
                                 f"{2 if i == 0 else 1} placeholder word(s)")
        return ids.cpu(), soft.cpu(), ctx

    def construct_token_tensors(self, pair_idx: torch.Tensor) -> list[torch.Tensor]:
        """Token embeddings of the three branches: pairs "[ctx] [state] [object]", states
        "[ctx] [state]", objects "[ctx] [object]" (soft words under attribute dropout)."""
        emb = text_parts(self.clip).token_embedding
        soft = self.attr_dropout(self.soft_att_obj)
        n_obj = len(self.objects)
        counts = (len(pair_idx), self.offset, n_obj)
        words = (None, soft[: self.offset], soft[self.offset:])
        ctxs = (self.comp_ctx_vectors, self.attr_ctx_vectors, self.obj_ctx_vectors)
        out = []
        for i in range(3):
            ids = self.token_ids[i]
            eos = int(ids.argmax())
            base = emb(ids.to(emb.weight.device)).float()
            x = base.unsqueeze(0).repeat(counts[i], 1, 1)
            x[:, 1:1 + len(ctxs[i]), :] = ctxs[i]
            if i == 0:
                x[:, eos - 2, :] = soft[pair_idx[:, 0]]
                x[:, eos - 1, :] = soft[pair_idx[:, 1] + self.offset]
            else:
                x[:, eos - 1, :] = words[i]
            out.append(x)
        return out

    def text_features(self, pair_idx: torch.Tensor) -> list[torch.Tensor]:
        """Unit text features of the pairs [K, D], the states [S, D] and the objects [O, D]."""
        parts = text_parts(self.clip)
        feats = []
        for i, tokens in enumerate(self.construct_token_tensors(pair_idx)):
            ids = self.token_ids[i].unsqueeze(0).expand(len(tokens), -1)
            f = encode_token_embeddings(parts, ids, tokens).float()
            feats.append(F.normalize(f, dim=-1))
        return feats

    # --- image side and interaction -----------------------------------------------------------

    def encode_image(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frozen tokens -> (image feature [B, D], low-level aggregate, high-level aggregate [B, 1+P, D])."""
        want = sorted(set(self.low_layers) | set(self.high_layers))
        pooled, inter = layer_tokens(visual_tower(self.clip), tokens, want)
        by_layer = dict(zip(want, inter))
        low = [by_layer[i].float() for i in self.low_layers]
        high = [by_layer[i].float() for i in self.high_layers]
        low_agg = low[0] if len(low) == 1 else self.concat_projection_low(torch.cat(low, dim=-1))
        high_agg = high[-1] if len(high) == 1 else self.concat_projection_high(torch.cat(high, dim=-1))
        return pooled.float(), low_agg, high_agg

    def multi_stage_cross_attention(self, q: torch.Tensor, low: torch.Tensor, high: torch.Tensor
                                    ) -> tuple[torch.Tensor, torch.Tensor]:
        q_1 = self.stage1_local_alignment(q, low)
        q_2 = self.stage2_global_fusion(q_1, high)
        return q_1, q_2

    def interact(self, text: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """Per image, text [K, D] -> normalised t + λ1·s1 + λ2·s2 [B, K, D]."""
        q = text.unsqueeze(0).expand(low.shape[0], -1, -1)
        s1, s2 = self.multi_stage_cross_attention(q, low, high)
        t = q + self.lamda * s1 + self.lamda_2 * s2
        return F.normalize(t, dim=-1)

    def logits(self, tokens: torch.Tensor, text_feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """(pair [B, K], state [B, S], object [B, O]) logits: cosine × CLIP's logit scale.

        The three branches' texts go through the cross-attention stages in one pass: queries never
        attend to each other there, so this equals the authors' loop over branches.
        """
        img, low, high = self.encode_image(tokens)
        img_feats = [img, self.attr_disentangler(img), self.obj_disentangler(img)]
        sizes = [len(t) for t in text_feats]
        updated = self.interact(torch.cat(text_feats), low, high).split(sizes, dim=1)
        scale = cast(torch.Tensor, self.clip.logit_scale).exp().float()  # a Parameter of open_clip's CLIP
        return [torch.einsum("bd,bkd->bk", F.normalize(f, dim=-1), t * scale) for f, t in zip(img_feats, updated)]

    def forward(self, tokens: torch.Tensor, pair_idx: torch.Tensor) -> list[torch.Tensor]:
        return self.logits(tokens, self.text_features(pair_idx))

    # --- loss and inference (authors' `loss_calu`, `logit_infer`) -----------------------------

    def loss(self, logits: list[torch.Tensor], pair_target: torch.Tensor, state_target: torch.Tensor,
             obj_target: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        comp, attr, obj = logits
        return (F.cross_entropy(comp, pair_target) * cfg.pair_loss_weight
                + F.cross_entropy(attr, state_target) * cfg.attr_loss_weight
                + F.cross_entropy(obj, obj_target) * cfg.obj_loss_weight)

    def logit_infer(self, logits: list[torch.Tensor], pair_idx: torch.Tensor) -> torch.Tensor:
        """Pair scores: pair logit × w_p + (p(state) × w_s)(p(object) × w_o); a weight of 0 drops
        that factor (it becomes 1), as in the authors' code."""
        cfg = self.config
        comp, attr, obj = logits
        p_attr = attr.softmax(-1)[:, pair_idx[:, 0]]
        p_obj = obj.softmax(-1)[:, pair_idx[:, 1]]
        a = 1.0 if cfg.attr_inference_weight == 0 else p_attr * cfg.attr_inference_weight
        o = 1.0 if cfg.obj_inference_weight == 0 else p_obj * cfg.obj_inference_weight
        return comp * cfg.pair_inference_weight + a * o
