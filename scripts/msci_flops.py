"""Count the FLOPs of one MSCI training step on a random-init open_clip ViT-L/14 (the paper's
backbone), to estimate GPU time for the paper's setting (docs/architecture.md, "MSCI").

    PYTHONPATH=. .venv/bin/python scripts/msci_flops.py [--states 16 --objects 12 --seen 83 --batch 2]

Defaults are UT-Zappos (16 states, 12 objects, 83 seen training pairs). Nothing is downloaded: the
weights are random (FLOPs do not depend on them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.msci import MSCI  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="ViT-L-14")
    ap.add_argument("--states", type=int, default=16)
    ap.add_argument("--objects", type=int, default=12)
    ap.add_argument("--seen", type=int, default=83)
    ap.add_argument("--batch", type=int, default=2)
    a = ap.parse_args(argv)
    import open_clip

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    clip = open_clip.create_model(a.arch, pretrained=None)
    tok = open_clip.get_tokenizer(a.arch)
    states = [f"state{i}" for i in range(a.states)]
    objects = [f"object{i}" for i in range(a.objects)]
    model = MSCI(clip, tok, states, objects, seed=0).train()
    del clip
    size = model.clip.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    images = torch.randn(a.batch, 3, size, size)
    pairs = torch.stack([torch.arange(a.seen) % a.states, torch.arange(a.seen) % a.objects], 1)
    tokens = model.frozen_tokens(images)
    with FlopCounterMode(display=False) as fc:
        text = model.text_features(pairs)
    text_flops = fc.get_total_flops()
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        # bytes autograd keeps for the backward pass (each storage once): the activation memory
        try:
            st = t.untyped_storage()
            saved[st.data_ptr()] = st.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with FlopCounterMode(display=False) as fc, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits = model.logits(tokens, [t.detach().requires_grad_() for t in text])
        fwd = fc.get_total_flops()
        image_act = sum(saved.values())
        saved.clear()
        loss = sum(x.sum() for x in logits)
        loss.backward()
    img_flops = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        text = model.text_features(pairs)
        text_act = sum(saved.values())
        sum(t.sum() for t in text).backward()
    text_step = fc.get_total_flops()
    out = {
        "arch": a.arch, "batch": a.batch, "seen_pairs": a.seen, "states": a.states, "objects": a.objects,
        "image_forward_gflop_per_image": fwd / a.batch / 1e9,
        "image_train_gflop_per_image": img_flops / a.batch / 1e9,
        "text_forward_gflop_per_step": text_flops / 1e9,
        "text_train_gflop_per_step": text_step / 1e9,
        "image_activation_mib_per_image": image_act / a.batch / 2**20,
        "text_activation_mib_per_step": text_act / 2**20,
        "frozen_parameters": sum(p.numel() for p in model.clip.parameters()),
        "trainable_parameters": sum(p.numel() for n, p in model.named_parameters()
                                    if p.requires_grad and not n.startswith("clip.")),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
