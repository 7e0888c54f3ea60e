"""Contrastive training of the demo world's tiny open_clip model.

The model is defined by an open_clip JSON config (`model_config/lazlabel-demo-tiny.json`,
registered with `open_clip.add_model_config`), so training, saving and loading all go through
open_clip's own machinery. Training pairs come from a rolling pool of rendered scenes:

* ~50% whole scenes captioned with every part;
* ~35% object-centred crops captioned with just the parts visible in the crop;
* ~15% LaZSL-style random large crops captioned with the parts visible in them.

Real CLIP has seen objects alone and in context; the demo model must too, or the crops that LaZSL
scores are out of distribution (docs/architecture.md, "The demo world"). Crops are cut and resized for the
whole batch at once with `torchvision.ops.roi_align`. Captions that name the same set of parts
are treated as positives of each other (soft targets), since duplicates are common.

Two losses: the softmax CLIP loss (the shipped `weights/`), and SigLIP's pairwise sigmoid loss
(`--loss sigmoid`, shipped as `weights_sigmoid/`) with a learnable logit scale and bias initialised
to log(10) and -10 as in the SigLIP paper; open_clip's `SigLipLoss` computes the logits, and the
same-content matrix gives the pair labels (+1 for every positive, -1 otherwise).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.loss import SigLipLoss
from torchvision.ops import roi_align

from engine.demo_world.captions import caption
from engine.demo_world.classes import Part
from engine.demo_world.scenes import EVAL_SEED_BASE, TRAIN_SEED_BASE, make_scene, render

MODEL_NAME = "lazlabel-demo-tiny"
CONFIG_DIR = Path(__file__).resolve().parent / "model_config"
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
WEIGHTS_FILE = "open_clip_model.safetensors"
SEEDS_PER_RUN = 10_000_000
CONFIG_FILE = "open_clip_config.json"


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved next to the weights)."""

    steps: int = 3000
    batch: int = 128
    lr: float = 1.5e-3
    weight_decay: float = 0.05
    warmup: int = 150  # steps (5% of the nominal run; also 5% of a time budget)
    pool: int = 2048
    refresh: int = 24  # new scenes rendered into the pool per step
    render_size: int = 128
    p_scene: float = 0.5
    p_object: float = 0.35  # the rest are random LaZSL-like crops
    min_visible: float = 0.6  # a part is "in" a crop when this fraction of its box is
    seed: int = 0
    threads: int = 1  # on a shared 2-core box, 2 OpenMP threads ran 3-4x slower than 1
    loss: str = "softmax"  # or "sigmoid" (SigLIP pairwise loss, learnable logit bias)


#: SigLIP's initialisation of the logit scale (t' = log 10) and bias (b = -10).
SIGMOID_INIT = {"init_logit_scale": math.log(10.0), "init_logit_bias": -10.0}
LOSSES = ("softmax", "sigmoid")


def register_config() -> None:
    """Make `lazlabel-demo-tiny` known to open_clip (idempotent)."""
    if MODEL_NAME not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)


def model_config(loss: str = "softmax") -> dict:
    """The open_clip model config; sigmoid models carry SigLIP's logit scale/bias init in it, so
    open_clip builds the `logit_bias` parameter again when it loads the saved folder."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    config: dict = json.loads((CONFIG_DIR / f"{MODEL_NAME}.json").read_text())
    if loss == "sigmoid":
        config.update(SIGMOID_INIT)
    return config


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- data


class ScenePool:
    """A rolling pool of rendered training scenes (uint8 tensor) with their part boxes."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        # each training seed reads its own stretch of scene seeds (all far below EVAL_SEED_BASE)
        self.first_seed = TRAIN_SEED_BASE + cfg.seed * SEEDS_PER_RUN
        self.next_seed = self.first_seed
        self.images = torch.empty((cfg.pool, 3, cfg.render_size, cfg.render_size), dtype=torch.uint8)
        self.parts: list[list[tuple[Part, tuple[int, int, int, int]]]] = [[] for _ in range(cfg.pool)]
        self.slot = 0
        for i in range(cfg.pool):
            self._fill(i)

    def _fill(self, i: int) -> None:
        scene = make_scene(self.next_seed, size=self.cfg.render_size)
        self.next_seed += 1
        arr = np.array(render(scene))
        self.images[i] = torch.from_numpy(arr).permute(2, 0, 1)
        self.parts[i] = [(p.part, p.box) for p in scene.parts]

    def refresh(self) -> None:
        for _ in range(self.cfg.refresh):
            self._fill(self.slot)
            self.slot = (self.slot + 1) % self.cfg.pool


def _visible(parts: list[tuple[Part, tuple[int, int, int, int]]], box: np.ndarray, thr: float) -> list[Part]:
    out = []
    for part, (x0, y0, x1, y1) in parts:
        iw = min(x1, box[2]) - max(x0, box[0])
        ih = min(y1, box[3]) - max(y0, box[1])
        if iw > 0 and ih > 0 and iw * ih >= thr * (x1 - x0) * (y1 - y0):
            out.append(part)
    return out


def sample_batch(
    pool: ScenePool, rng: np.random.Generator, input_size: int
) -> tuple[torch.Tensor, list[str], list[frozenset[Part]]]:
    """Images (normalised, B x 3 x S x S), captions, and the part set each caption names."""
    cfg = pool.cfg
    size = cfg.render_size
    idx = rng.integers(cfg.pool, size=cfg.batch)
    kinds = rng.choice(3, size=cfg.batch, p=[cfg.p_scene, cfg.p_object, 1 - cfg.p_scene - cfg.p_object])
    boxes = np.zeros((cfg.batch, 4), dtype=np.float32)
    captions: list[str] = []
    keys: list[frozenset[Part]] = []
    for b in range(cfg.batch):
        parts = pool.parts[int(idx[b])]
        if kinds[b] == 0:
            box = np.array([0, 0, size, size], dtype=np.float32)
            names = [p for p, _ in parts]
        else:
            if kinds[b] == 1:
                _, (x0, y0, x1, y1) = parts[int(rng.integers(len(parts)))]
                side = (x1 - x0) * rng.uniform(1.15, 2.3)
                cx = (x0 + x1) / 2 + rng.uniform(-0.15, 0.15) * side
                cy = (y0 + y1) / 2 + rng.uniform(-0.15, 0.15) * side
            else:
                side = rng.uniform(0.5, 0.9) * size
                cx, cy = rng.uniform(side / 2, size - side / 2, size=2)
            side = min(side, size)
            cx = float(np.clip(cx, side / 2, size - side / 2))
            cy = float(np.clip(cy, side / 2, size - side / 2))
            box = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], dtype=np.float32)
            names = _visible(parts, box, cfg.min_visible)
        boxes[b] = box
        captions.append(caption(names, rng))
        keys.append(frozenset(names))
    imgs = pool.images[torch.from_numpy(idx)].float().div_(255.0)
    rois = torch.cat([torch.arange(cfg.batch, dtype=torch.float32)[:, None], torch.from_numpy(boxes)], dim=1)
    crops = roi_align(imgs, rois, output_size=input_size, spatial_scale=1.0, sampling_ratio=2, aligned=True)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (crops - mean) / std, captions, keys


def soft_targets(keys: list[frozenset[Part]]) -> torch.Tensor:
    """Row-normalised 'same caption content' matrix (duplicates are positives, not negatives)."""
    ids: dict[frozenset[Part], int] = {}
    k = torch.tensor([ids.setdefault(key, len(ids)) for key in keys])
    same = (k[:, None] == k[None, :]).float()
    return same / same.sum(dim=1, keepdim=True)


class MultiPositiveSigLipLoss(SigLipLoss):
    """open_clip's SigLIP loss with the soft-target positives as labels instead of the identity.

    Every pair whose captions name the same parts is a positive (label +1), every other pair a
    negative (-1); like `SigLipLoss`, the summed -log sigmoid(label * logit) is divided by the batch.
    """

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor,
                logit_bias: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        logits = self.get_logits(image_features, text_features, logit_scale, logit_bias)
        labels = 2.0 * (positives > 0).to(logits.dtype) - 1.0
        return -F.logsigmoid(labels * logits).sum() / image_features.shape[0]


# ----------------------------------------------------------------------------- training


def build_model(seed: int, loss: str = "softmax") -> tuple[open_clip.CLIP, Callable]:
    register_config()
    torch.manual_seed(seed)
    model_config(loss)  # validates the loss name
    extra = SIGMOID_INIT if loss == "sigmoid" else {}
    model = open_clip.create_model(MODEL_NAME, pretrained=None, **extra)
    tokenizer = open_clip.get_tokenizer(MODEL_NAME)
    return model, tokenizer


#: Budget clocks: wall time, or this process's CPU time (robust to a shared machine).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.monotonic, "cpu": time.process_time}


def _lr_at(progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up over the first `warmup` steps' worth of progress, then cosine to zero."""
    w = cfg.warmup / max(cfg.steps, 1)
    if progress < w:
        return cfg.lr * (progress + 1e-3) / w
    t = min(1.0, (progress - w) / max(1e-9, 1 - w))
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def train(
    cfg: TrainConfig,
    log: Callable[[str], None] = print,
    max_seconds: float | None = None,
    *,
    clock: str = "wall",
    init_from: Path | None = None,
    wall_cap_seconds: float | None = None,
) -> tuple[torch.nn.Module, dict]:
    """Train from scratch; returns the model and a stats dict (timings, params, loss).

    With `max_seconds`, the schedule is time-aware: progress = max(steps done / steps, time used /
    time left after building the pool), so a slow, shared machine still ends with a fully decayed
    learning rate inside the budget. Without it, the run is a fixed number of steps (bit-for-bit
    reproducible on the same machine and thread count). `clock="cpu"` measures the budget in this
    process's CPU seconds instead, which is what the run would take on an unshared core.
    `wall_cap_seconds` additionally bounds the wall time (the schedule follows whichever runs out
    first). `init_from`: a weights folder written by `save` to continue from (a second schedule).
    """
    now = CLOCKS[clock]
    if TRAIN_SEED_BASE + (cfg.seed + 1) * SEEDS_PER_RUN > EVAL_SEED_BASE:
        raise ValueError(f"training seed {cfg.seed} would reach the held-out scene seeds")
    torch.set_num_threads(cfg.threads)
    t_start, cpu_start = now(), time.process_time()
    wall_start = time.monotonic()
    model, tokenizer = build_model(cfg.seed, cfg.loss)
    siglip = MultiPositiveSigLipLoss() if cfg.loss == "sigmoid" else None
    if init_from is not None:
        from safetensors.torch import load_file

        model.load_state_dict({k: v.float() for k, v in load_file(str(Path(init_from) / WEIGHTS_FILE)).items()})
        log(f"continuing from {init_from}")
    input_size = model_config()["vision_cfg"]["image_size"]
    rng = np.random.default_rng(cfg.seed)
    pool = ScenePool(cfg)
    log(f"pool of {cfg.pool} scenes ready in {now() - t_start:.1f}s; params {count_params(model):,}")
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6,
    )
    model.train()
    losses: list[float] = []
    step = 0
    t_loop = now()
    budget = None if max_seconds is None else max(1.0, max_seconds - (t_loop - t_start))
    progress = 0.0
    for step in range(cfg.steps):
        progress = step / cfg.steps
        if budget is not None:
            progress = max(progress, (now() - t_loop) / budget)
        if wall_cap_seconds is not None:
            progress = max(progress, (time.monotonic() - wall_start) / wall_cap_seconds)
        if progress >= 1.0:
            break
        lr = _lr_at(progress, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        images, texts, keys = sample_batch(pool, rng, input_size)
        tokens = tokenizer(texts)
        img_f = F.normalize(model.encode_image(images), dim=-1)
        txt_f = F.normalize(model.encode_text(tokens), dim=-1)
        scale = model.logit_scale.exp()
        target = soft_targets(keys)
        if siglip is not None:
            loss = siglip(img_f, txt_f, scale, model.logit_bias, target)
        else:
            logits = scale * img_f @ txt_f.T
            loss = 0.5 * (
                -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
                - (target * F.log_softmax(logits.T, dim=1)).sum(1).mean()
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(loss.item())
        pool.refresh()
        if step % 25 == 0:
            el = now() - t_start
            bias = f" bias {model.logit_bias.item():.2f}" if siglip is not None else ""
            log(f"step {step:5d} progress {progress:.2f} loss {np.mean(losses[-25:]):.3f} "
                f"scale {scale.item():.1f}{bias} lr {lr:.2e} {el:.0f}s")
    else:
        step = cfg.steps
    model.eval()
    stats = {
        "train_seconds": round(time.monotonic() - wall_start, 1),
        "cpu_seconds": round(time.process_time() - cpu_start, 1),
        "clock": clock,
        "loss": cfg.loss,
        "init_from": str(init_from) if init_from else None,
        "steps_done": step,
        "final_loss": float(np.mean(losses[-25:])),
        "params": count_params(model),
        "scenes_seen": pool.next_seed - pool.first_seed,
        "threads": cfg.threads,
        "config": asdict(cfg),
    }
    return model, stats


def save(model: torch.nn.Module, out_dir: Path, stats: dict | None = None, loss: str | None = None) -> Path:
    """Write open_clip_config.json + fp16 open_clip_model.safetensors (open_clip's local-dir layout)."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if loss is None:
        loss = "sigmoid" if getattr(model, "logit_bias", None) is not None else "softmax"
    size = model_config()["vision_cfg"]["image_size"]
    cfg = {
        "model_cfg": model_config(loss),
        "preprocess_cfg": {
            "size": size, "mode": "RGB", "mean": list(MEAN), "std": list(STD),
            "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0,
        },
    }
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    tmp = out_dir / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "model": MODEL_NAME})
    tmp.replace(out_dir / WEIGHTS_FILE)
    (out_dir / CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
    if stats is not None:
        (out_dir / "training.json").write_text(json.dumps(stats, indent=2) + "\n")
    return out_dir / WEIGHTS_FILE
