"""Loading open_clip models from a spec string, and the thin `ClipModel` wrapper the engine uses.

Spec forms (see `load_model`):
  ``"ViT-B-32:openai"``            name + pretrained tag, from open_clip's download cache
  ``"ViT-B-32@/path/weights.pt"``  name + local weights file (OpenAI files get QuickGELU)
  ``"local-dir:/path"``            a folder with ``open_clip_config.json`` + weights
  ``"random:ViT-B-32"``            random initialisation (seed 0), for tests and benchmarks
  ``"hf-hub:ORG/NAME[@REV]"``      an open_clip repo in the Hugging Face cache (`engine.hub`)
  any key of ``MODEL_ALIASES``     resolved to one of the above
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

#: Named shortcuts: alias → spec string (or a zero-argument callable returning one, so a
#: package can resolve its shipped files lazily). The demo world registers ``"demo"``.
MODEL_ALIASES: dict[str, str | Callable[[], str]] = {
    "demo": lambda: __import__("engine.demo_world", fromlist=["DEMO_MODEL_SPEC"]).DEMO_MODEL_SPEC,
    "demo-sigmoid": lambda: __import__("engine.demo_world", fromlist=["x"]).DEMO_SIGMOID_MODEL_SPEC,
}

DEFAULT_MODEL_SPEC = "ViT-B-32:openai"

_HASH_PREFIX_BYTES = 1 << 20


class ModelLoadError(Exception):
    """A model could not be loaded; the message says what was missing and how to supply it."""


def _sha_prefix(path: Path) -> str:
    """Cheap, stable identity of a weights file: sha256 of its size and first MiB."""
    h = hashlib.sha256()
    h.update(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        h.update(f.read(_HASH_PREFIX_BYTES))
    return h.hexdigest()[:16]


def _pick_device(device: str) -> torch.device:
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _pick_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in _PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}; use one of auto, {', '.join(_PRECISIONS)}")
    if device.type == "cpu" and precision == "fp16":
        raise ModelLoadError("fp16 is not supported on CPU; use fp32 or bf16")
    return precision


def register_model_config(name: str, cfg: dict) -> None:
    """Register an open_clip model config under `name` (tiny test models, the demo model)."""
    import open_clip

    d = Path(tempfile.mkdtemp(prefix="lazlabel-cfg-"))
    p = d / f"{name}.json"
    p.write_text(json.dumps(cfg))
    open_clip.add_model_config(p)


def _is_openai_file(path: Path) -> bool:
    """OpenAI's released CLIP files are TorchScript archives (or named so); they need QuickGELU."""
    if "openai" in path.name.lower():
        return True
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.split("/", 1)[-1].startswith("code/") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _quickgelu_name(name: str) -> str:
    import open_clip

    if name.endswith("-quickgelu"):
        return name
    q = f"{name}-quickgelu"
    return q if q in open_clip.list_models() else name


@dataclass
class _Resolved:
    """What open_clip needs to build a model, plus the identity string for caching."""

    create_name: str
    pretrained: str | None
    model_id: str
    tokenizer_name: str
    force_quick_gelu: bool = False
    random_seed: int | None = None
    notes: list[str] = field(default_factory=list)
    #: extra keyword arguments for open_clip.create_model (hub models: local text_cfg, preprocessing)
    create_kwargs: dict = field(default_factory=dict)
    #: builds the tokenizer when open_clip.get_tokenizer(tokenizer_name) would not do (hub models)
    make_tokenizer: Callable[[], object] | None = None


def _resolve_alias(spec: str) -> str:
    seen: set[str] = set()
    while spec in MODEL_ALIASES:
        if spec in seen:
            raise ModelLoadError(f"model alias loop at {spec!r}")
        seen.add(spec)
        v = MODEL_ALIASES[spec]
        spec = v() if callable(v) else v
    return spec


def _known_name(name: str) -> None:
    import open_clip

    if name not in open_clip.list_models():
        raise ModelLoadError(
            f"unknown open_clip model name {name!r}; run `python -c \"import open_clip; "
            f"print(open_clip.list_models())\"` to see the available names"
        )


def _resolve_random(rest: str) -> _Resolved:
    name, _, seed = rest.partition("#")
    _known_name(name)
    s = int(seed) if seed else 0
    return _Resolved(name, None, f"random:{name}#{s}", name, random_seed=s)


def _resolve_local_dir(rest: str) -> _Resolved:
    path = Path(rest).expanduser()
    cfg = path / "open_clip_config.json"
    if not path.is_dir():
        raise ModelLoadError(f"model folder not found: {path} (local-dir: needs a folder holding open_clip_config.json and weights)")
    if not cfg.is_file():
        raise ModelLoadError(f"{cfg} is missing: a local-dir: model needs open_clip_config.json beside its weights")
    weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".pth", ".pt"))
    if not weights:
        raise ModelLoadError(f"no weights file (.safetensors/.bin/.pth) in {path}")
    h = hashlib.sha256(cfg.read_bytes())
    for w in weights:
        h.update(_sha_prefix(w).encode())
    return _Resolved(f"local-dir:{path.resolve()}", None, f"local-dir:{path.name}#{h.hexdigest()[:16]}",
                     f"local-dir:{path.resolve()}")


def _resolve_file(name: str, file: str) -> _Resolved:
    path = Path(file).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"weights file not found: {path} (spec {name}@{file})")
    _known_name(name)
    create = name
    notes = []
    if _is_openai_file(path) and not name.endswith("-quickgelu"):
        create = _quickgelu_name(name)
        notes.append("OpenAI weights detected: using QuickGELU")
    return _Resolved(create, str(path), f"{create}@{path.name}#{_sha_prefix(path)}", name,
                     force_quick_gelu=create == name and bool(notes), notes=notes)


def _resolve_tag(name: str, tag: str) -> _Resolved:
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg

    _known_name(name)
    if not get_pretrained_cfg(name, tag):
        tags = open_clip.list_pretrained_tags_by_model(name)
        raise ModelLoadError(
            f"{name} has no pretrained tag {tag!r}; known tags: {', '.join(tags) or 'none'}"
        )
    return _Resolved(name, tag, f"{name}:{tag}", name)


def _resolve_hub(spec: str) -> _Resolved:
    from engine.hub import hub_tokenizer, resolve_hub

    hm = resolve_hub(spec)
    return _Resolved(f"local-dir:{hm.snapshot}", None, hm.model_id, f"local-dir:{hm.snapshot}",
                     create_kwargs={"text_cfg": hm.text_cfg}, make_tokenizer=lambda: hub_tokenizer(hm))


def _cached_tag(r: _Resolved) -> None:
    """Point a NAME:TAG at its file in the local caches (never downloads), keeping the tag's
    QuickGELU and preprocessing; raises ModelLoadError with the pull command when it is missing."""
    from open_clip.pretrained import get_pretrained_cfg

    from engine.hub import cached_tag_file

    path = cached_tag_file(r.create_name, r.pretrained or "")
    if path is None:
        raise ModelLoadError(_offline_hint(r))
    cfg = get_pretrained_cfg(r.create_name, r.pretrained or "")
    r.force_quick_gelu = bool(cfg.get("quick_gelu", False))
    pp = {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg}
    if pp:
        r.create_kwargs["force_preprocess_cfg"] = pp
    r.pretrained = path


def resolve_spec(spec: str) -> _Resolved:
    """Parse a spec (after alias expansion) into what open_clip needs; raises ModelLoadError."""
    spec = _resolve_alias(spec.strip())
    if spec.startswith("hf-hub:"):
        return _resolve_hub(spec)
    if spec.startswith("random:"):
        return _resolve_random(spec[len("random:"):])
    if spec.startswith("local-dir:"):
        return _resolve_local_dir(spec[len("local-dir:"):])
    if "@" in spec:
        name, file = spec.split("@", 1)
        return _resolve_file(name, file)
    if ":" in spec:
        name, tag = spec.split(":", 1)
        return _resolve_tag(name, tag)
    raise ModelLoadError(
        f"model spec {spec!r} names no weights: write NAME:TAG (e.g. ViT-B-32:openai), NAME@/path/file.pt, "
        f"hf-hub:ORG/NAME, local-dir:/path, random:NAME or one of the aliases ({', '.join(MODEL_ALIASES) or 'none registered'})"
    )


def _offline_hint(r: _Resolved) -> str:
    return (
        f"weights for {r.create_name}:{r.pretrained} are not in the local caches (nothing is downloaded "
        f"unasked): download them with `lazlabel models pull {r.create_name}:{r.pretrained}`, or give a local "
        f"file as '{r.create_name}@/path/to/weights.pt' or a folder as 'local-dir:/path'"
    )


def _scalar(p: object, exp: bool = False) -> float | None:
    """A one-element parameter as a Python float (None when absent or not materialised)."""
    if not isinstance(p, torch.Tensor) or p.numel() != 1 or p.is_meta:
        return None
    v = p.detach().float().reshape(())
    return float(v.exp() if exp else v)


class ClipModel:
    """An open_clip model on a device, with normalised no-grad encoders and a text cache."""

    #: (model_id, sentence) → CPU float32 feature; shared by all instances of the same weights.
    _text_cache: dict[tuple[str, str], torch.Tensor] = {}
    _text_lock = threading.Lock()

    def __init__(self, model: torch.nn.Module, tokenizer, model_id: str, device: torch.device,
                 dtype: torch.dtype, spec: str = "") -> None:
        import open_clip

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.spec = spec
        self.device = device
        self.dtype = dtype
        pp = open_clip.get_model_preprocess_cfg(model)
        size = pp.get("size", getattr(model.visual, "image_size", 224))
        self.image_size: int = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.mean: tuple[float, float, float] = tuple(pp.get("mean", open_clip.OPENAI_DATASET_MEAN))
        self.std: tuple[float, float, float] = tuple(pp.get("std", open_clip.OPENAI_DATASET_STD))
        #: exp(logit_scale) and logit_bias the model was trained with; a bias marks a sigmoid
        #: (SigLIP-style) model, whose cost scale `engine.calibration` adjusts
        self.logit_scale: float | None = _scalar(getattr(model, "logit_scale", None), exp=True)
        self.logit_bias: float | None = _scalar(getattr(model, "logit_bias", None))
        self.embed_dim: int = int(model.text_projection.shape[-1]) if getattr(model, "text_projection", None) is not None else int(
            self.encode_texts(["probe"]).shape[-1])

    def __repr__(self) -> str:
        return f"ClipModel({self.model_id!r}, device={self.device}, dtype={self.dtype})"

    @torch.inference_mode()
    def encode_images(self, x: torch.Tensor) -> torch.Tensor:
        """[B,3,S,S] normalised pixels → [B,D] unit features (float32, on the model's device)."""
        x = x.to(self.device, self.dtype, non_blocking=True)
        f = self.model.encode_image(x)
        return F.normalize(f.float(), dim=-1)

    @property
    def supports_dense(self) -> bool:
        return self.dense_unsupported is None

    @property
    def dense_unsupported(self) -> str | None:
        """Why this tower cannot give dense (patch) regions, in one line; None when it can."""
        from engine.dense_towers import dense_unsupported

        return dense_unsupported(self.model.visual, self.model_id)

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(rows, cols) of ViT patch tokens; (0, 0) for towers without patches."""
        v = self.model.visual
        g = getattr(v, "grid_size", None)
        if g is None and getattr(v, "trunk", None) is not None:
            g = getattr(getattr(v.trunk, "patch_embed", None), "grid_size", None)
        return (int(g[0]), int(g[1])) if g is not None else (0, 0)

    @torch.inference_mode()
    def encode_dense(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """One pass: global [B,D] and per-patch region features [B,P,D] (unit), plus the patch grid.

        Patch tokens go through the same final norm and projection as the pooled token (the
        MaskCLIP-style reading of ViT tokens); only ViT towers support it.
        """
        why = self.dense_unsupported
        if why is not None:
            raise ValueError(why)
        v = self.model.visual
        x = x.to(self.device, self.dtype)
        if getattr(v, "trunk", None) is not None:  # a timm ViT (EVA, SigLIP): engine/dense_towers.py
            from engine.dense_towers import timm_encode_dense

            pooled, tokens, grid = timm_encode_dense(v, x)
            return F.normalize(pooled.float(), dim=-1), F.normalize(tokens.float(), dim=-1), grid
        old = v.output_tokens
        v.output_tokens = True
        try:
            pooled, tokens = v(x)
        finally:
            v.output_tokens = old
        if getattr(v, "final_ln_after_pool", False):
            tokens = v.ln_post(tokens)
        tokens = tokens @ v.proj
        n = tokens.shape[1]
        gh = int(round(n ** 0.5))
        grid = getattr(v, "grid_size", (gh, n // max(gh, 1)))
        return F.normalize(pooled.float(), dim=-1), F.normalize(tokens.float(), dim=-1), (int(grid[0]), int(grid[1]))

    @torch.inference_mode()
    def encode_texts(self, sentences: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """Sentences → [T,D] unit features (float32, CPU); cached per (model_id, sentence)."""
        sentences = list(sentences)
        with self._text_lock:
            todo = list(dict.fromkeys(s for s in sentences if (self.model_id, s) not in self._text_cache))
        for i in range(0, len(todo), batch_size):
            chunk = todo[i:i + batch_size]
            tok = self.tokenizer(chunk).to(self.device)
            f = F.normalize(self.model.encode_text(tok).float(), dim=-1).cpu()
            with self._text_lock:
                for s, row in zip(chunk, f):
                    self._text_cache[(self.model_id, s)] = row.clone()
        if not sentences:
            return torch.zeros(0, getattr(self, "embed_dim", 0) or 0)
        with self._text_lock:
            return torch.stack([self._text_cache[(self.model_id, s)] for s in sentences])


def load_model(spec: str = DEFAULT_MODEL_SPEC, device: str = "auto", precision: str = "auto") -> ClipModel:
    """Load an open_clip model from a spec string (module docstring lists the forms).

    Raises `ModelLoadError` with a user-readable message when weights are missing or the spec is bad.
    """
    import open_clip

    r = resolve_spec(spec)
    dev = _pick_device(device)
    prec = _pick_precision(precision, dev)
    if r.pretrained and r.model_id == f"{r.create_name}:{r.pretrained}":  # a pretrained tag
        _cached_tag(r)
    try:
        if r.random_seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(r.random_seed)
                model = open_clip.create_model(r.create_name, pretrained=None, precision=prec, device=dev)
        else:
            model = open_clip.create_model(r.create_name, pretrained=r.pretrained, precision=prec, device=dev,
                                           force_quick_gelu=r.force_quick_gelu, **r.create_kwargs)
    except ModelLoadError:
        raise
    except ImportError as e:  # an HF text tower or tokenizer without `transformers`
        raise ModelLoadError(f"{spec} needs the `{e.name or 'transformers'}` package: pip install "
                             f"{e.name or 'transformers'}") from e
    except Exception as e:  # open_clip raises RuntimeError/ValueError/OSError for every failure
        if r.pretrained and not os.path.isfile(r.pretrained):
            raise ModelLoadError(_offline_hint(r)) from e
        raise ModelLoadError(f"could not load model {spec!r}: {type(e).__name__}: {e}") from e
    try:
        tokenizer = r.make_tokenizer() if r.make_tokenizer else open_clip.get_tokenizer(r.tokenizer_name)
    except ImportError as e:
        raise ModelLoadError(f"{spec} needs the `{e.name or 'transformers'}` package for its tokenizer: pip install "
                             f"{e.name or 'transformers'}") from e
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"could not load the tokenizer of {spec}: {type(e).__name__}: {e}") from e
    return ClipModel(model, tokenizer, r.model_id, dev, _PRECISIONS[prec], spec=spec)
