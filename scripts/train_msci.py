"""Train MSCI on the compositional demo world's seen pairs and report the CZSL numbers.

    PYTHONPATH=. .venv/bin/python scripts/train_msci.py                 # defaults as reported
    PYTHONPATH=. .venv/bin/python scripts/train_msci.py --train 720 --epochs 4 --json out.json

Seen, unseen, HM and AUC (engine/czsl.py, the common CZSL protocol) in the closed world (the 30
pairs that occur) and the open world (all 42 state × object pairs; unfiltered, and with MSCI's
feasibility filter, its threshold picked on the validation split as the authors do), next to CLIP
zero-shot pair prompts on the same test images. Also wall time, CPU time and peak memory of training
(resource.getrusage). `scripts/eval_czsl.py` adds the other zero-shot baselines.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import czsl  # noqa: E402
from engine.demo_world import compositional as C  # noqa: E402
from engine.demo_world.scenes import render  # noqa: E402
from engine.models import load_model  # noqa: E402
from engine.msci import MSCI, MSCIConfig, feasibility_scores, predict_scores, train_msci  # noqa: E402
from engine.msci.data import frozen_tokens_of  # noqa: E402
from engine.msci.openworld import threshold_candidates  # noqa: E402

S_IDX = {s: i for i, s in enumerate(C.STATES)}
O_IDX = {o: i for i, o in enumerate(C.OBJECTS)}
ALL = C.ALL_PAIRS
P_IDX = {p: i for i, p in enumerate(ALL)}
PAIR_IDX = torch.tensor([[S_IDX[p.state], O_IDX[p.object]] for p in ALL])
SEEN = torch.tensor([p in C.SEEN_PAIRS for p in ALL])
FEASIBLE = torch.tensor([p in C.FEASIBLE_PAIRS for p in ALL])
SEEN_IDX = PAIR_IDX[SEEN]


def split(name: str, n: int, model: MSCI, clip) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frozen tokens, pair labels (index into ALL) and the scenes' pixels for CLIP zero-shot."""
    pairs, images = [], []
    for pair, scene in C.iter_scenes(name, n):
        pairs.append(P_IDX[pair])
        images.append(render(scene))
    tokens = frozen_tokens_of(model, images, clip.image_size, clip.mean, clip.std)
    from engine.msci.data import pixels
    px = pixels(images, clip.image_size, clip.mean, clip.std)
    return tokens, torch.tensor(pairs), px


def _rss_mib() -> float:
    """Current resident memory (Linux /proc; 0 elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def _reset_peak() -> float:
    """Give freed heap back to the OS and restart the kernel's peak-RSS counter (Linux); returns
    the resident memory the training peak is then measured from."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _rss_mib()


def _peak_mib() -> float:
    """VmHWM: the peak resident memory since the last reset (Linux; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def rows(scores: torch.Tensor, labels: torch.Tensor, feasible_mask: torch.Tensor | None) -> dict[str, dict]:
    kw = {"pair_states": PAIR_IDX[:, 0], "pair_objects": PAIR_IDX[:, 1]}
    out = {"closed": czsl.closed_world(scores, labels, SEEN, FEASIBLE, **kw),
           "open": czsl.open_world(scores, labels, SEEN, None, **kw)}
    if feasible_mask is not None:  # filtered pairs score lowest (a test image's own pair may be one)
        kept = torch.as_tensor(feasible_mask) | SEEN
        out["open+feasibility"] = czsl.open_world(scores.masked_fill(~kept, -1e9), labels, SEEN, None, **kw)
    return {k: {**v.as_row(), "state": 100 * v.state_acc, "object": 100 * v.object_acc} for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--train", type=int, default=1440, help="training images (cycled over the 18 seen pairs)")
    ap.add_argument("--val", type=int, default=600)
    ap.add_argument("--test", type=int, default=1200)
    ap.add_argument("--epochs", type=int, default=None, help="default: the published 15")
    ap.add_argument("--lr", type=float, default=None, help="default: the published 2.5e-4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared CPU spins with more; 0 leaves torch's default)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    clip = load_model(a.model, device="cpu")
    cfg = MSCIConfig() if a.lr is None else MSCIConfig(lr=a.lr)
    model = MSCI(clip.model, clip.tokenizer, C.STATES, C.OBJECTS, cfg)
    t0 = time.perf_counter()
    tr_tok, tr_y, _ = split("train", a.train, model, clip)
    va_tok, va_y, _ = split("val", a.val, model, clip)
    te_tok, te_y, te_px = split("test", a.test, model, clip)
    prep_s = time.perf_counter() - t0

    # CLIP zero-shot pair prompts, same images
    with torch.no_grad():
        img = clip.encode_images(te_px)
        txt = clip.encode_texts([f"a photo of {p.state} {p.object}" for p in ALL])
        zs = img @ txt.T

    # MSCI trained on the seen pairs (labels: state, object of each training image)
    rss0 = _reset_peak()
    peak = [rss0]
    cpu0 = time.process_time()
    t1 = time.perf_counter()

    def progress(info: dict) -> None:
        peak[0] = max(peak[0], _rss_mib())
        if "val_accuracy" in info:
            print(f"  epoch {info['epoch']} loss {info['loss']:.3f} held-out seen {info['val_accuracy']:.3f}", flush=True)

    res = train_msci(model, tr_tok, PAIR_IDX[tr_y, 0], PAIR_IDX[tr_y, 1], SEEN_IDX, seed=a.seed, epochs=a.epochs,
                     progress=progress)
    train_s, cpu_s = time.perf_counter() - t1, time.process_time() - cpu0
    peak[0] = max(peak[0], _peak_mib())

    # feasibility threshold for the open world: best validation AUC over the authors' sweep
    with torch.no_grad():
        words = clip.encode_texts([f"a photo of {w}" for w in C.STATES]), clip.encode_texts([f"a photo of {w}" for w in C.OBJECTS])
    feas = feasibility_scores(words[0], words[1], SEEN_IDX)[PAIR_IDX[:, 0], PAIR_IDX[:, 1]]
    va_scores = predict_scores(model, va_tok, PAIR_IDX)["pair"]
    best_th, best_auc = None, -1.0
    for th in threshold_candidates(feas, SEEN).tolist():
        kept = torch.as_tensor(czsl.feasibility_mask(feas, SEEN, th))
        r = czsl.open_world(va_scores.masked_fill(~kept, -1e9), va_y, SEEN, None)
        if r.auc > best_auc:
            best_th, best_auc = th, r.auc
    mask = czsl.feasibility_mask(feas, SEEN, best_th)
    t2 = time.perf_counter()
    te_scores = predict_scores(model, te_tok, PAIR_IDX)["pair"]
    infer_s = time.perf_counter() - t2

    out = {
        "setting": {"model": a.model, "train": a.train, "val": a.val, "test": a.test, "seed": a.seed,
                    "config": cfg.to_json(), "threads": torch.get_num_threads()},
        "clip_pairs": rows(zs, te_y, mask),
        "msci": rows(te_scores, te_y, mask),
        "msci_comp_only": rows(predict_scores(model, te_tok, PAIR_IDX)["comp"], te_y, mask),
        "feasibility": {"threshold": best_th, "kept_unseen": int((mask & ~SEEN.numpy()).sum()),
                        "infeasible_removed": int((~mask & ~FEASIBLE.numpy()).sum()),
                        "feasible_removed": int((~mask & FEASIBLE.numpy()).sum())},
        "training": {"seconds": round(train_s, 1), "cpu_seconds": round(cpu_s, 1), "epochs_run": res.epochs_run,
                     "best_epoch": res.best_epoch, "best_val_seen_accuracy": res.best_val_accuracy,
                     "n_train": res.n_train, "n_val": res.n_val, "history": res.history,
                     "rss_before_training_mib": round(rss0, 1), "peak_rss_during_training_mib": round(peak[0], 1),
                     "training_memory_mib": round(peak[0] - rss0, 1),
                     "process_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                     "data_prep_seconds": round(prep_s, 1), "test_inference_seconds": round(infer_s, 2),
                     "trainable_parameters": sum(p.numel() for n, p in model.named_parameters()
                                                 if p.requires_grad and not n.startswith("clip."))},
    }
    print(f"{'':18s}{'world':18s}{'S':>7s}{'U':>7s}{'HM':>7s}{'AUC':>7s}")
    for name in ("clip_pairs", "msci", "msci_comp_only"):
        for world, r in out[name].items():
            print(f"{name:18s}{world:18s}{r['S']:7.1f}{r['U']:7.1f}{r['HM']:7.1f}{r['AUC']:7.1f}")
    print(json.dumps(out["training"] | {"history": None}, indent=None))
    print(json.dumps(out["feasibility"]))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
