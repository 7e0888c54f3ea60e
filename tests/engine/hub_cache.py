"""Builders of genuine Hugging Face cache layouts holding small random-weight open_clip models.

`write_hub_model` lays a repo out exactly as huggingface_hub does: the file contents in
``blobs/<etag>`` (sha256 for the weights, as LFS files are named; git blob sha1 for the rest),
``snapshots/<commit>/<file>`` as relative links to them and ``refs/main`` naming the commit. The
configs are open_clip's own shipped ones, shrunk (widths, layers, vocabulary) where the tower type
allows, so the files stay small.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import torch

#: open_clip config name → what to shrink in it (tower type kept: timm trunk, pooling, text tower kind)
SIGLIP = "ViT-B-32-SigLIP2-256"
EVA = "EVA02-B-16"
MOBILECLIP = "MobileCLIP2-S0"
CLIP = "ViT-B-32"
XLMR = "xlm-roberta-base-ViT-B-32"
WORDS = ("a an the of with and red green blue yellow purple orange striped dotted round square star triangle "
         "circle ring photo zorbit quillan has shape part on top left right small large texture").split()


def shipped_config(name: str) -> dict:
    import open_clip

    return copy.deepcopy(open_clip.get_model_config(name))


def small_config(name: str, tokenizer_repo: str | None = None) -> dict:
    """open_clip's config `name` with its towers shrunk for tests; the tower kinds are unchanged."""
    cfg = shipped_config(name)
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    if v.get("timm_model_name"):
        # the smallest timm trunk of the same family (timm builds it at its own 224 input size)
        v["timm_model_name"] = {"vit_base_patch32_siglip_256": "vit_tiny_patch16_224",
                                "eva02_base_patch16_clip_224": "eva02_tiny_patch14_224"}.get(
            v["timm_model_name"], v["timm_model_name"])
        # timm ViTs are built at their own 224 input; convolutional trunks take any size
        v["image_size"] = 224 if v["timm_model_name"] in ("vit_tiny_patch16_224", "eva02_tiny_patch14_224") else 64
        # with no projection the trunk's width is the embedding width
        cfg["embed_dim"] = 192 if v.get("timm_proj") == "none" else 64
    else:
        v.update(image_size=64, layers=1, width=64, patch_size=16, head_width=32)
        cfg["embed_dim"] = 64
    if "hf_model_name" not in t:
        t.update(width=cfg["embed_dim"] if v.get("timm_proj") == "none" else 64, heads=2, layers=1)
        if "hf_tokenizer_name" in t:
            t["vocab_size"] = len(WORDS) + 8
            t["hf_tokenizer_name"] = tokenizer_repo or t["hf_tokenizer_name"]
    return cfg


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def write_repo_files(cache: Path, repo_id: str, files: dict[str, bytes], commit: str | None = None,
                     ref: str = "main") -> str:
    """Write files into a hub cache layout; returns the commit hash."""
    folder = cache / ("models--" + repo_id.replace("/", "--"))
    commit = commit or hashlib.sha1(repo_id.encode() + b"".join(files[k] for k in sorted(files))).hexdigest()
    snap = folder / "snapshots" / commit
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        etag = hashlib.sha256(data).hexdigest() if name.endswith((".safetensors", ".bin")) else _git_sha1(data)
        (folder / "blobs" / etag).write_bytes(data)
        link = snap / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(folder / "blobs" / etag, link.parent))
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / ref).write_text(commit)
    return commit


def tokenizer_files() -> dict[str, bytes]:
    """A small fast tokenizer (word level) saved as transformers reads it from a hub repo."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>", "eos_token": "</s>",
           "unk_token": "<unk>", "model_max_length": 64}
    return {"tokenizer.json": tok.to_str().encode(), "tokenizer_config.json": json.dumps(cfg).encode()}


def random_weights(model_cfg: dict, text_cfg_override: dict | None = None, seed: int = 0) -> bytes:
    """Safetensors bytes (fp16) of a random-initialised model built from `model_cfg`."""
    import open_clip
    from safetensors.torch import save

    name = "lazlabel-hubtest-" + hashlib.sha1(json.dumps(model_cfg, sort_keys=True).encode()).hexdigest()[:10]
    if name not in open_clip.list_models():
        from engine.models import register_model_config

        register_model_config(name, model_cfg)
    kw = {"text_cfg": text_cfg_override} if text_cfg_override else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.create_model(name, pretrained=None, **kw)
    sd = {k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous().clone()
          for k, v in model.state_dict().items()}
    return save(sd)


def write_hub_model(cache: Path, repo_id: str, name: str, *, with_tokenizer: bool = True,
                    weights: bool = True, preprocess: dict | None = None) -> str:
    """A shrunk open_clip config `name` with random weights as hub repo `repo_id`; returns its commit."""
    cfg = small_config(name, tokenizer_repo=repo_id)
    files = {"open_clip_config.json": json.dumps({"model_cfg": cfg, "preprocess_cfg": preprocess or {}}).encode()}
    if weights:
        files["open_clip_model.safetensors"] = random_weights(cfg)
    if with_tokenizer and "hf_tokenizer_name" in cfg["text_cfg"]:
        files.update(tokenizer_files())
    return write_repo_files(cache, repo_id, files)


def write_xlmr_model(cache: Path, repo_id: str = "test/xlmr-tiny", text_repo: str = "test/xlmr-text") -> str:
    """open_clip's multilingual config (XLM-R text tower through transformers) with a tiny
    XLM-R in its own repo, as on the hub (xlm-roberta-base is a separate repo there too)."""
    from transformers import XLMRobertaConfig

    tok = tokenizer_files()
    n_vocab = len(json.loads(tok["tokenizer.json"])["model"]["vocab"])
    tcfg = XLMRobertaConfig(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=80, pad_token_id=0, bos_token_id=1,
                            eos_token_id=1)
    text_commit = write_repo_files(cache, text_repo, {"config.json": tcfg.to_json_string().encode(), **tok})
    text_dir = cache / ("models--" + text_repo.replace("/", "--")) / "snapshots" / text_commit
    cfg = small_config(XLMR)
    cfg["text_cfg"].update(hf_model_name=text_repo, hf_tokenizer_name=text_repo)
    local_text = dict(cfg["text_cfg"], hf_model_name=str(text_dir), hf_model_pretrained=False)
    files = {"open_clip_config.json": json.dumps({"model_cfg": cfg}).encode(),
             "open_clip_model.safetensors": random_weights(cfg, text_cfg_override=local_text)}
    return write_repo_files(cache, repo_id, files)
