"""MSCI (Wang et al., IJCAI 2025, "Addressing CLIP's Inherent Limitations for Compositional Zero-Shot
Learning"), rebuilt on open_clip models from the authors' code (github.com/ltpwy/MSCI,
`model/Mutifuse_new.py`, `config/msci/*.yml`): three soft-prompted branches (pair, state, object),
adapters in every block of the frozen visual encoder, two disentanglers, low/high-level aggregators
and the two-stage cross-modal interaction. docs/architecture.md, "MSCI", maps each part to that code.

torch + open_clip only: no SQL, no Qt. `workflows/learning.py` drives the trainer as the `msci`
learning method.
"""

from engine.msci.config import PUBLISHED, MSCIConfig
from engine.msci.model import MSCI
from engine.msci.openworld import feasibility_scores, threshold_with_feasibility
from engine.msci.train import TrainingCancelled, TrainResult, iter_train, predict_scores, train_msci

__all__ = ["MSCI", "MSCIConfig", "PUBLISHED", "TrainResult", "feasibility_scores", "predict_scores",
           "threshold_with_feasibility", "train_msci", "iter_train", "TrainingCancelled"]
