"""A small process-wide cache of loaded models, so the GUI and repeated use cases don't reload.

Keyed by (spec, device, precision). Loading is serialised by a lock (two screens asking for the
same model at once load it once); the least recently used model is dropped beyond `MAX_MODELS`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

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

