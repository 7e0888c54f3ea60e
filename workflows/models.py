"""A small process-wide cache of loaded models, so the GUI and repeated use cases don't reload.

Keyed by (spec, device, precision). Loading is serialised by a lock (two screens asking for the
same model at once load it once); the least recently used model is dropped beyond `MAX_MODELS`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from workflows.progress import Progress

if TYPE_CHECKING:  # engine.models imports torch: loaded on the first get_model, not on import
    from engine.models import ClipModel

MAX_MODELS = 2

_lock = threading.Lock()
_models: OrderedDict[tuple[str, str, str], ClipModel] = OrderedDict()


def get_model(spec: str, device: str = "auto", precision: str = "auto") -> ClipModel:
    """The `engine.models.ClipModel` for this spec/device/precision, loaded at most once."""
    from engine.models import load_model

    key = (str(spec), str(device), str(precision))
    with _lock:
        model = _models.get(key)
        if model is None:
            model = load_model(spec, device, precision)
            _models[key] = model
            while len(_models) > MAX_MODELS:
                _models.popitem(last=False)
        else:
            _models.move_to_end(key)
        return model


# ----------------------------------------------------------------------------- catalog and download


def model_catalog() -> list[dict[str, Any]]:
    """What `lazlabel models list` and the desktop model picker show: every open_clip model in the
    Hugging Face cache (spec, commit, size) and the recommended ones (approximate size, cached?)."""
    from engine.hub import RECOMMENDED, cached_tag_file, list_cached

    rows: list[dict[str, Any]] = []
    cached_specs = set()
    for m in list_cached():
        if not m.open_clip:
            continue
        cached_specs.add(m.spec)
        rows.append({"spec": m.spec, "cached": True, "recommended": False, "size_bytes": m.size_bytes,
                     "commit": m.commit, "refs": list(m.refs), "what": "", "path": str(m.path)})
    for r in RECOMMENDED:
        hit = next((row for row in rows if row["spec"] == r.spec), None)
        if hit is not None:
            hit.update(recommended=True, what=r.what)
            continue
        cached = False
        if not r.spec.startswith("hf-hub:"):
            name, _, tag = r.spec.partition(":")
            cached = cached_tag_file(name, tag) is not None
        rows.append({"spec": r.spec, "cached": cached, "recommended": True, "size_bytes": r.approx_mb * 1_000_000,
                     "approx": True, "commit": None, "refs": [], "what": r.what, "path": None})
    return rows


def pull_model(spec: str, cancel: Any = None) -> Generator[Progress, None, dict[str, Any]]:
    """Download a model into the Hugging Face cache (the user asked for it), yielding byte progress.

    The download runs on a helper thread; `cancel` stops it at the next chunk (finished files stay
    cached, a pull run again skips them). Returns {"spec", "files", "bytes"}; raises UserError with
    one line on a 404, a checksum or size mismatch, an unreachable hub or HF_HUB_OFFLINE.
    """
    import queue

    from engine.hub import PullCancelled, pull
    from engine.models import ModelLoadError
    from workflows.errors import UserError
    from workflows.progress import Cancelled

    events: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}
    is_cancelled = (lambda: bool(getattr(cancel, "cancelled", False))) if cancel is not None else None

    def work() -> None:
        try:
            outcome["result"] = pull(spec, on_bytes=lambda f, d, t: events.put((f, d, t)), cancelled=is_cancelled)
        except BaseException as e:  # noqa: BLE001 - handed to the generator's thread
            outcome["error"] = e
        finally:
            events.put(None)

    th = threading.Thread(target=work, name="lazlabel-pull", daemon=True)
    th.start()
    started = time.monotonic()
    while True:
        ev = events.get()
        if ev is None:
            break
        name, done, total = ev
        msg = name if total is None else f"{name} {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        yield Progress(done, total, msg, stage="download", started=started)
    th.join()
    err = outcome.get("error")
    if isinstance(err, PullCancelled):
        raise Cancelled(str(err))
    if isinstance(err, ModelLoadError):
        raise UserError(str(err)) from err
    if err is not None:
        raise err
    spec_out, files = outcome["result"]
    return {"spec": spec_out, "files": [str(f) for f in files],
            "bytes": sum(f.stat().st_size for f in files if f.exists())}
