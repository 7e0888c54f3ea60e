"""Zero-shot scoring of compositional classes (state-object pairs), and the evidence for each part.

Three zero-shot routes, each a scoring method of the one registry (`engine.types.METHODS`):

* ``clip`` on pair classes is CLIP's pair prompt, "a photo of a {state} {object}." (the class name
  is the pair's name; nothing special is needed);
* ``lazsl`` / ``dclip`` score a pair over the union of its own, its state's and its object's
  attributes (the store copies part attributes into pairs, `db/store_compose.py`);
* ``marginals`` (here): product of marginals, p(state) x p(object), each a softmax over the
  project's states (objects) of the whole image's similarity to "a photo of a {state} object." /
  "a photo of a {object}.", at the model's own logit scale. Its evidence is the two parts, each
  with its probability.

No SQL, no Qt (docs/architecture.md, "Compositional labels").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from engine.evidence import AttributeEvidence, ClassEvidence, Presence, honest_shares
from engine.prompts import clean_class_name
from engine.types import ClassSpec

STATE_TEMPLATE = "a photo of a {} object."
OBJECT_TEMPLATE = "a photo of a {}."
PAIR_TEMPLATE = "a photo of a {} {}."
#: The logit scale of OpenAI's CLIP, used when a model does not report its own.
DEFAULT_LOGIT_SCALE = 100.0


class NotCompositional(ValueError):
    """A compositional method was asked to score classes that are not all state-object pairs."""


@dataclass(frozen=True)
class PairIndex:
    """The states and objects of a list of pair classes, and each class's state and object index."""

    states: tuple[str, ...]
    objects: tuple[str, ...]
    pair_state: torch.Tensor  # [C] long
    pair_obj: torch.Tensor  # [C] long
    logit_scale: float = DEFAULT_LOGIT_SCALE

    @property
    def sentences(self) -> list[str]:
        """State prompts, then object prompts (the rows of the marginals' text features)."""
        return ([STATE_TEMPLATE.format(clean_class_name(s)) for s in self.states]
                + [OBJECT_TEMPLATE.format(clean_class_name(o)) for o in self.objects])


def pair_index(classes: Sequence[ClassSpec], logit_scale: float | None = None) -> PairIndex:
    """Index the parts of pair classes, in first-seen order; `NotCompositional` when a class has none."""
    flat = [c.name for c in classes if not (c.state and c.obj)]
    if flat:
        more = f" and {len(flat) - 3} more" if len(flat) > 3 else ""
        raise NotCompositional(
            f"the marginals method needs state-object classes; not a pair: {', '.join(flat[:3])}{more} "
            "(make pairs with `lazlabel classes compose`)")
    states = tuple(dict.fromkeys(c.state for c in classes))
    objects = tuple(dict.fromkeys(c.obj for c in classes))
    return PairIndex(
        states, objects,
        torch.tensor([states.index(c.state) for c in classes], dtype=torch.long),
        torch.tensor([objects.index(c.obj) for c in classes], dtype=torch.long),
        float(logit_scale) if logit_scale else DEFAULT_LOGIT_SCALE,
    )


def marginal_probabilities(global_feats: torch.Tensor, text_feats: torch.Tensor, index: PairIndex
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """p(state) [B,S] and p(object) [B,O] from unit global features and `index.sentences` features."""
    n_s = len(index.states)
    logits = index.logit_scale * (global_feats.float() @ text_feats.float().T.to(global_feats.device))
    return logits[:, :n_s].softmax(dim=1), logits[:, n_s:].softmax(dim=1)


def marginal_scores(global_feats: torch.Tensor, text_feats: torch.Tensor, index: PairIndex) -> torch.Tensor:
    """p(state) x p(object) for every pair class [B,C]."""
    ps, po = marginal_probabilities(global_feats, text_feats, index)
    dev = ps.device
    return ps[:, index.pair_state.to(dev)] * po[:, index.pair_obj.to(dev)]


def _part_presence(p: float, n: int) -> Presence:
    """A part's probability as presence: 'found' when more likely than not, 'weak' from twice chance."""
    label = "found" if p >= 0.5 else ("weak" if p >= min(0.5, 2.0 / max(n, 1)) else "not found")
    return Presence(p, label, calibrated=False)


def marginal_evidence(global_feats: torch.Tensor, text_feats: torch.Tensor, index: PairIndex, top: torch.Tensor,
                      sizes: Sequence[tuple[int, int]], classes: Sequence[ClassSpec]) -> list[list[ClassEvidence]]:
    """Evidence of the top pairs [B,k]: the state and the object, each with its probability.

    contribution = log(p x number of choices) (positive when the part is likelier than chance);
    shares split the positive contributions, as for attributes.
    """
    ps, po = marginal_probabilities(global_feats, text_feats, index)
    sims = (global_feats.float() @ text_feats.float().T.to(global_feats.device)).cpu()
    ps, po = ps.cpu(), po.cpu()
    n_s, n_o = len(index.states), len(index.objects)
    out = []
    for i, row in enumerate(top.tolist()):
        ev = []
        for c in row:
            si, oi = int(index.pair_state[c]), int(index.pair_obj[c])
            parts = ((f"state: {index.states[si]}", float(ps[i, si]), n_s, float(sims[i, si])),
                     (f"object: {index.objects[oi]}", float(po[i, oi]), n_o, float(sims[i, n_s + oi])))
            contrib = [math.log(max(p * n, 1e-12)) for _t, p, n, _s in parts]
            shares = honest_shares(contrib)
            attrs = tuple(
                AttributeEvidence(j, text, mass=p, similarity=sim, best_similarity=sim, contribution=cb, share=sh,
                                  presence=_part_presence(p, n), given=True)
                for j, ((text, p, n, sim), cb, sh) in enumerate(zip(parts, contrib, shares, strict=True)))
            ev.append(ClassEvidence(classes[c].name, c, float(ps[i, si] * po[i, oi]), sizes[i], attrs))
        out.append(ev)
    return out


def union_attributes(own: Sequence[str], state_attrs: Sequence[str], obj_attrs: Sequence[str]) -> tuple[str, ...]:
    """A pair's attributes for the LaZSL path: its own, then its state's, then its object's, each
    text once (case-insensitive)."""
    seen: set[str] = set()
    out = []
    for t in (*own, *state_attrs, *obj_attrs):
        k = t.casefold()
        if k not in seen:
            seen.add(k)
            out.append(t)
    return tuple(out)
