"""Models from the Hugging Face cache: find them offline, list them, and download them on request.

Loading never touches the network: a spec is resolved by reading the cache folders huggingface_hub
writes (``models--ORG--NAME/{refs,snapshots,blobs}``), honouring ``HF_HUB_CACHE`` / ``HF_HOME``.
Only `pull` downloads, and only when a user asks for it (``lazlabel models pull``, the desktop's
Download button), through ``huggingface_hub.hf_hub_download`` into that same cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.models import ModelLoadError

HUB_PREFIX = "hf-hub:"
CONFIG_NAME = "open_clip_config.json"
#: open_clip's weight files in a hub repo, in the order open_clip prefers them.
WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
#: Tokenizer files an HF tokenizer may need; each is optional (a repo holds some of them).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model",
                   "sentencepiece.bpe.model", "vocab.txt", "vocab.json", "merges.txt", "added_tokens.json")
PULL_CHUNK_BYTES = 1 << 20
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Recommended:
    """A model worth having, with its approximate download size (what `models list` shows)."""

    spec: str
    what: str
    approx_mb: int


#: Shown by `lazlabel models list` and the desktop model picker; sizes are approximate.
RECOMMENDED: tuple[Recommended, ...] = (
    Recommended("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "CLIP ViT-B/32 (LAION-2B), softmax; a fast default", 605),
    Recommended("hf-hub:apple/MobileCLIP-S2-OpenCLIP", "MobileCLIP S2, softmax; fastest on CPU", 400),
    Recommended("hf-hub:timm/ViT-B-16-SigLIP2", "SigLIP 2 ViT-B/16, sigmoid; stronger zero-shot", 1500),
    Recommended("ViT-B-32:openai", "OpenAI CLIP ViT-B/32, the published LaZSL setting", 605),
)


# ----------------------------------------------------------------------------- where the cache is


def hub_cache_dir() -> Path:
    """The hub cache huggingface_hub uses, read from the environment now (not at import)."""
    env = os.environ
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(var):
            return Path(env[var]).expanduser()
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def hub_offline() -> bool:
    """HF_HUB_OFFLINE set to a true value: `pull` refuses to download."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def parse_hub_spec(spec: str) -> tuple[str, str | None]:
    """``hf-hub:ORG/NAME[@REV]`` (prefix optional) → (repo_id, revision or None)."""
    rest = spec[len(HUB_PREFIX):] if spec.startswith(HUB_PREFIX) else spec
    repo, _, rev = rest.partition("@")
    repo = repo.strip().strip("/")
    parts = repo.split("/")
    if not repo or len(parts) > 2 or not all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", p) for p in parts):
        raise ModelLoadError(f"bad Hugging Face model spec {spec!r}: write hf-hub:ORG/NAME or hf-hub:ORG/NAME@REVISION")
    if "@" in spec and not rev.strip():
        raise ModelLoadError(f"bad Hugging Face model spec {spec!r}: nothing after '@' (give a branch, tag or commit)")
    return repo, (rev.strip() or None)


def repo_folder(repo_id: str, cache: Path | None = None) -> Path:
    return (cache or hub_cache_dir()) / ("models--" + repo_id.replace("/", "--"))


def pull_hint(spec: str) -> str:
    return f"download it with `lazlabel models pull {spec}`"


def cached_snapshot(repo_id: str, revision: str | None = None) -> tuple[Path, str] | None:
    """(snapshot folder, commit hash) of a cached repo at a revision (branch, tag, commit or a
    unique commit prefix of at least 7 characters), or None; reads folders only."""
    folder = repo_folder(repo_id)
    snaps = folder / "snapshots"
    rev = revision or "main"
    if _COMMIT.fullmatch(rev):
        return (snaps / rev, rev) if (snaps / rev).is_dir() else None
    ref = folder / "refs" / rev
    if ref.is_file():
        commit = ref.read_text().strip()
        return (snaps / commit, commit) if (snaps / commit).is_dir() else None
    if revision and len(rev) >= 7 and re.fullmatch(r"[0-9a-f]+", rev) and snaps.is_dir():
        hits = [p for p in snaps.iterdir() if p.name.startswith(rev)]
        if len(hits) == 1:
            return hits[0], hits[0].name
    return None


# ----------------------------------------------------------------------------- resolving a spec


@dataclass
class HubModel:
    """A cached open_clip hub model: where its files are and what open_clip needs to build it."""

    repo_id: str
    commit: str
    snapshot: Path
    config: dict
    #: text_cfg with every hub name replaced by a cached local folder (nothing to fetch when built)
    text_cfg: dict
    tokenizer_source: str | None  # local folder of the HF tokenizer, None for open_clip's own

    @property
    def model_id(self) -> str:
        return f"hf-hub:{self.repo_id}@{self.commit}"


def _need_transformers(spec: str, why: str) -> None:
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise ModelLoadError(f"{spec} needs the `transformers` package for its {why}: pip install transformers") from None


def _dependency_folder(spec: str, name: str, own: Path, what: str) -> str:
    """A hub name the config refers to (tokenizer, HF text tower) → a local folder, without network."""
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if name.startswith(HUB_PREFIX):
        name = name[len(HUB_PREFIX):]
    if (own / "tokenizer_config.json").is_file() or (own / "config.json").is_file():
        own_repo = own.parent.parent.name.removeprefix("models--").replace("--", "/")
        if own_repo == name:
            return str(own)
    found = cached_snapshot(name)
    if found is None:
        raise ModelLoadError(f"{spec} uses the {what} of {name}, which is not in the Hugging Face cache "
                             f"({hub_cache_dir()}); {pull_hint(spec)} (it fetches both)")
    return str(found[0])


def resolve_hub(spec: str) -> HubModel:
    """Find a hub spec's files in the local cache; raises ModelLoadError naming the pull command."""
    repo_id, revision = parse_hub_spec(spec)
    canonical = HUB_PREFIX + repo_id + (f"@{revision}" if revision else "")
    found = cached_snapshot(repo_id, revision)
    if found is None:
        where = repo_folder(repo_id)
        if where.is_dir() and revision:
            refs = sorted(p.name for p in (where / "refs").glob("*")) if (where / "refs").is_dir() else []
            raise ModelLoadError(f"revision {revision!r} of {HUB_PREFIX}{repo_id} is not in the Hugging Face cache "
                                 f"(cached: {', '.join(refs) or 'no named revisions'}); {pull_hint(canonical)}")
        raise ModelLoadError(f"{HUB_PREFIX}{repo_id} is not in the Hugging Face cache ({hub_cache_dir()}); "
                             f"{pull_hint(canonical)}")
    snap, commit = found
    cfg_path = snap / CONFIG_NAME
    if not cfg_path.is_file():
        raise ModelLoadError(f"{HUB_PREFIX}{repo_id} (snapshot {commit[:12]}) has no {CONFIG_NAME}: it is not an "
                             f"open_clip model or was not fully downloaded; {pull_hint(canonical)}")
    if not any((snap / w).is_file() for w in WEIGHT_NAMES):
        raise ModelLoadError(f"the weights of {HUB_PREFIX}{repo_id} ({' or '.join(WEIGHT_NAMES)}) are not in the "
                             f"Hugging Face cache (snapshot {commit[:12]}); {pull_hint(canonical)}")
    try:
        config = json.loads(cfg_path.read_text())
        model_cfg = config["model_cfg"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelLoadError(f"{cfg_path} is not a valid open_clip config ({type(e).__name__}: {e})") from None
    text_cfg = dict(model_cfg.get("text_cfg", {}))
    tok = None
    if text_cfg.get("hf_tokenizer_name"):
        _need_transformers(canonical, "tokenizer")
        tok = _dependency_folder(canonical, text_cfg["hf_tokenizer_name"], snap, "tokenizer")
    if text_cfg.get("hf_model_name"):
        _need_transformers(canonical, "text tower")
        text_cfg["hf_model_name"] = _dependency_folder(canonical, text_cfg["hf_model_name"], snap, "text tower")
        text_cfg["hf_model_pretrained"] = False  # the CLIP checkpoint holds the text weights
    return HubModel(repo_id, commit, snap, config, text_cfg, tok)


def hub_tokenizer(hm: HubModel) -> Any:
    """The tokenizer for a resolved hub model, built from local files only."""
    import open_clip

    text_cfg = hm.text_cfg
    ctx = text_cfg.get("context_length", 77)
    if hm.tokenizer_source is None:
        return open_clip.get_tokenizer(f"local-dir:{hm.snapshot}")
    from open_clip.tokenizer import HFTokenizer

    return HFTokenizer(hm.tokenizer_source, context_length=ctx, tokenizer_mode=text_cfg.get("tokenizer_mode"),
                       **text_cfg.get("tokenizer_kwargs", {}))


def cached_tag_file(name: str, tag: str) -> str | None:
    """The cached weights file of an open_clip pretrained tag (hub or URL download), or None."""
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(name, tag) or {}
    if cfg.get("file"):
        return cfg["file"] if os.path.isfile(cfg["file"]) else None
    if cfg.get("hf_hub"):
        repo_id, names = tag_repo(name, tag)
        found = cached_snapshot(repo_id)
        if found is not None:
            for n in names:
                if (found[0] / n).is_file():
                    return str(found[0] / n)
    if cfg.get("url"):
        p = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "clip" / os.path.basename(cfg["url"])
        if p.is_file():
            return str(p)
    return None


def tag_repo(name: str, tag: str) -> tuple[str, list[str]]:
    """(hub repo, weight file names to try) of a pretrained tag; raises if the tag has no hub copy."""
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(name, tag) or {}
    hub = cfg.get("hf_hub", "")
    if not hub:
        raise ModelLoadError(f"{name}:{tag} is not on the Hugging Face hub, so `lazlabel models pull` cannot fetch it; "
                             f"download {cfg.get('url', 'its weights')} yourself and use '{name}@/path/to/file'")
    if hub.endswith("/"):
        return hub[:-1], list(WEIGHT_NAMES)
    repo, fname = os.path.split(hub)
    alt = [fname[:-4] + ".safetensors"] if fname.endswith((".bin", ".pth")) else []
    return repo, alt + [fname]


# ----------------------------------------------------------------------------- what is cached


@dataclass(frozen=True)
class CachedModel:
    """One cached hub repo (a revision per row): what `models list` prints."""

    spec: str
    commit: str
    refs: tuple[str, ...]
    size_bytes: int
    open_clip: bool  # has open_clip_config.json and weights: loadable as hf-hub:
    path: Path


def list_cached() -> list[CachedModel]:
    """Every model repo revision in the hub cache, open_clip ones first; reads folders only."""
    cache = hub_cache_dir()
    if not cache.is_dir():
        return []
    out = []
    for folder in sorted(cache.glob("models--*")):
        repo_id = folder.name[len("models--"):].replace("--", "/")
        snaps = folder / "snapshots"
        if not snaps.is_dir():
            continue
        refs: dict[str, list[str]] = {}
        if (folder / "refs").is_dir():
            for r in (folder / "refs").rglob("*"):
                if r.is_file():
                    refs.setdefault(r.read_text().strip(), []).append(str(r.relative_to(folder / "refs")))
        for snap in sorted(snaps.iterdir()):
            files = [p for p in snap.rglob("*") if p.is_file()]
            size = sum(p.stat().st_size for p in files)  # follows the blob links
            oc = (snap / CONFIG_NAME).is_file() and any((snap / w).is_file() for w in WEIGHT_NAMES)
            names = refs.get(snap.name, [])
            spec = HUB_PREFIX + repo_id + ("" if "main" in names else f"@{snap.name[:12]}")
            out.append(CachedModel(spec, snap.name, tuple(sorted(names)), size, oc, snap))
    return sorted(out, key=lambda m: (not m.open_clip, m.spec))


# ----------------------------------------------------------------------------- downloading


class PullError(ModelLoadError):
    """A download failed; the message says why in one line."""


@dataclass
class PullProgress:
    """Bytes of the file being downloaded now (`file`), over all files seen so far."""

    file: str
    done: int
    total: int | None


def _git_blob_sha1(path: Path) -> str:
    h = hashlib.sha1()
    h.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_download(path: str | Path, label: str) -> None:
    """Check a downloaded file against its hub etag (sha256 for LFS files, git blob sha1 for
    others: the blob is named by it); a mismatch removes the file and raises PullError."""
    link = Path(path)
    blob = link.resolve()
    etag = blob.name
    if _SHA256.fullmatch(etag):
        got = _sha256(blob)
    elif _COMMIT.fullmatch(etag):
        got = _git_blob_sha1(blob)
    else:
        return
    if got != etag:
        blob.unlink(missing_ok=True)
        if link.is_symlink() or link != blob:
            link.unlink(missing_ok=True)
        raise PullError(f"checksum mismatch for {label}: expected {etag[:16]}…, got {got[:16]}…; the corrupt file "
                        f"was removed, run the pull again")


def _tqdm_class(on_bytes: Callable[[str, int, int | None], None] | None, cancelled: Callable[[], bool] | None,
                label: str = "") -> Any:
    """A tqdm subclass reporting bytes to `on_bytes` and stopping the download when `cancelled()`."""
    from tqdm.auto import tqdm

    class _Reporting(tqdm):
        def __init__(self, *a: Any, **kw: Any) -> None:
            kw["disable"] = on_bytes is not None or kw.get("disable", False)
            super().__init__(*a, **kw)
            self._label = label or str(kw.get("desc") or "")
            self._done = int(kw.get("initial") or 0)  # a disabled tqdm does not count

        def update(self, n: float | None = 1) -> bool | None:
            if cancelled is not None and cancelled():
                raise _PullCancelled()
            r: bool | None = super().update(n)
            self._done += int(n or 0)
            if on_bytes is not None:
                on_bytes(self._label, self._done, None if self.total is None else int(self.total))
            return r

    return _Reporting


class _PullCancelled(Exception):
    pass


class PullCancelled(Exception):
    """The user stopped a pull; finished files stay in the cache."""


def _download(repo_id: str, filename: str, revision: str | None, report: tuple, required: bool) -> str | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    label = f"{filename} of {HUB_PREFIX}{repo_id}"
    try:
        path = hf_hub_download(repo_id, filename, revision=revision, cache_dir=str(hub_cache_dir()),
                               tqdm_class=_tqdm_class(report[0], report[1], label=filename), endpoint=_endpoint())
    except _PullCancelled:
        raise PullCancelled(f"download of {label} cancelled") from None
    except LocalEntryNotFoundError as e:  # (a subclass of EntryNotFoundError) the hub did not answer
        raise PullError(f"could not reach {_endpoint()} to download {label}: {str(e).splitlines()[0]}") from None
    except EntryNotFoundError:
        if required:
            raise PullError(f"{HUB_PREFIX}{repo_id} has no {filename} (HTTP 404): not an open_clip model repo") from None
        return None
    except RevisionNotFoundError:
        raise PullError(f"{HUB_PREFIX}{repo_id} has no revision {revision!r} (HTTP 404)") from None
    except GatedRepoError:
        raise PullError(f"{HUB_PREFIX}{repo_id} is gated: accept its terms on huggingface.co and log in "
                        f"(`hf auth login`), then pull again") from None
    except RepositoryNotFoundError:
        raise PullError(f"{HUB_PREFIX}{repo_id} was not found on {_endpoint()} (HTTP 404; private repos need "
                        f"`hf auth login`)") from None
    except HfHubHTTPError as e:
        raise PullError(f"download of {label} failed: {str(e).splitlines()[0]}") from None
    except (OSError, ValueError) as e:  # consistency (size) check, disk full, connection reset
        raise PullError(f"download of {label} failed: {str(e).splitlines()[0]}") from None
    verify_download(path, label)
    return path


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def pull(spec: str, on_bytes: Callable[[str, int, int | None], None] | None = None,
         cancelled: Callable[[], bool] | None = None) -> tuple[str, list[Path]]:
    """Download what a spec needs into the hub cache: its config, weights, tokenizer files and the
    repos its config names (tokenizer, HF text tower). Returns (spec to load it with, files).

    `on_bytes(label, done, total)` gets byte progress (no terminal bar then); `cancelled()` is
    polled between chunks. Raises PullError / PullCancelled; finished files stay cached.
    """
    if hub_offline():
        raise PullError("HF_HUB_OFFLINE is set: unset it to allow `lazlabel models pull` to download")
    import huggingface_hub.constants as hc

    from engine.models import _resolve_alias

    # 1 MB reads (not 10): smoother progress, a prompter cancel, less to fetch again after a drop
    hc.DOWNLOAD_CHUNK_SIZE = min(hc.DOWNLOAD_CHUNK_SIZE, PULL_CHUNK_BYTES)
    spec = _resolve_alias(spec.strip())
    tq = (on_bytes, cancelled)
    files: list[Path] = []
    if not spec.startswith(HUB_PREFIX):
        if ":" not in spec or "@" in spec or spec.startswith(("local-dir:", "random:")):
            raise PullError(f"`models pull` takes hf-hub:ORG/NAME[@REV] or an open_clip NAME:TAG, not {spec!r}")
        name, tag = spec.split(":", 1)
        from engine.models import _resolve_tag

        _resolve_tag(name, tag)  # unknown name / tag: its own clear message
        repo, names = tag_repo(name, tag)
        for i, n in enumerate(names):
            p = _download(repo, n, None, tq, required=i == len(names) - 1)
            if p:
                files.append(Path(p))
                break
        return spec, files
    repo_id, revision = parse_hub_spec(spec)
    files.append(Path(_download(repo_id, CONFIG_NAME, revision, tq, required=True) or ""))
    for i, w in enumerate(WEIGHT_NAMES):
        p = _download(repo_id, w, revision, tq, required=False)
        if p:
            files.append(Path(p))
            break
        if i == len(WEIGHT_NAMES) - 1:
            raise PullError(f"{HUB_PREFIX}{repo_id} has no open_clip weights ({' or '.join(WEIGHT_NAMES)})")
    try:
        text_cfg = json.loads(files[0].read_text()).get("model_cfg", {}).get("text_cfg", {})
    except ValueError as e:
        raise PullError(f"{CONFIG_NAME} of {HUB_PREFIX}{repo_id} is not valid JSON ({e})") from None
    deps: list[tuple[str, tuple[str, ...]]] = []
    tok = str(text_cfg.get("hf_tokenizer_name") or "").removeprefix(HUB_PREFIX)
    if tok and not Path(tok).expanduser().is_dir():
        deps.append((tok, TOKENIZER_FILES))
    hf_model = str(text_cfg.get("hf_model_name") or "")
    if hf_model and not Path(hf_model).expanduser().is_dir():
        deps.append((hf_model, ("config.json",)))
    for dep, dep_names in deps:
        rev = revision if dep == repo_id else None
        got = [p for n in dep_names if (p := _download(dep, n, rev, tq, required=False))]
        if not got:
            raise PullError(f"{HUB_PREFIX}{repo_id} needs {dep}, which has none of {', '.join(dep_names)}")
        files.extend(Path(p) for p in got)
    return spec, files
