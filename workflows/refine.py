"""The LLM improves the attribute set where the curators' decisions show confusion (issue #17, 5).

Four steps, each its own call so the desktop can show one screen per step:

1. `confused_pairs`: the class pairs the current predictions mix up, from the decisions
   (decided class A, predicted B; both directions counted) and, when decisions are few, from the
   undecided images whose top two classes are the pair with a small margin.
2. `propose_distinguishing`: ask the Ollama model, through the attribute-source plugin (same
   transport limits, parsing and text hygiene as `attributes propose`), for visual attributes that
   tell A from B, given both classes' current attributes so that it proposes new ones; one request
   per direction (what A has and B lacks, then the reverse). Nothing is written.
3. `preview_refinement`: accuracy on the decided images before and after, per proposed attribute
   and all together, from the feature cache only (text encoding of the new attributes, never an
   image). A LaZSL score of a class depends only on that class's own attributes, so each variant
   scores just the class it changes, all variants in one engine call.
4. `accept_refinement`: the chosen attributes are appended (merge) with their provenance:
   source "llm", the model, the confusion prompt's version, origin "confusion prompt for pair A vs B".
   `lazlabel rescore` then applies them (only the two classes go through transport again).

Scores here are zero-shot LaZSL scores (the attribute set's own effect); a learned model, when one
is active, is learned again over the new attribute set (docs/architecture.md, "Refining attributes
from confusions").
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from db.queries import ImageFilter
from db.store_attributes import AttributeEditError
from engine.types import ClassSpec
from plugins.attribute_sources import AttributeSourceError, SourceStopped, prompting
from workflows import text
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, Progress, check
from workflows.settings import load_settings

#: undecided images count towards a pair when their top-2 margin is in this lowest fraction
CLOSE_MARGIN_FRACTION = 0.25
#: a close call counts as this many decided confusions when ranking pairs (a coin flip at best,
#: and only a guess at what the curator would say); with many decisions they dominate the ranking
CLOSE_WEIGHT = 0.25
DEFAULT_N = 4  # new attributes asked per class and direction


# -- 1. which pairs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfusedPair:
    """Two classes the current predictions mix up (a < b by display order of first appearance)."""

    a: int
    b: int
    a_name: str
    b_name: str
    a_as_b: int = 0  # decided a, predicted b
    b_as_a: int = 0  # decided b, predicted a
    close: int = 0  # undecided images whose top two are {a, b} with a margin in the lowest quarter

    @property
    def decided(self) -> int:
        """Confusions the curators' decisions show (both directions)."""
        return self.a_as_b + self.b_as_a

    @property
    def label(self) -> str:
        return f"{self.a_name} vs {self.b_name}"

    def describe(self) -> str:
        parts = []
        if self.decided:
            parts.append(
                f"{self.decided} decided images confused ({self.a_name} predicted as {self.b_name}: "
                f"{self.a_as_b}, {self.b_name} as {self.a_name}: {self.b_as_a})"
            )
        if self.close:
            parts.append(f"{self.close} undecided images with a close call between them")
        return "; ".join(parts) or "no confusion seen"


def decided_labels(project: Any) -> dict[int, int]:
    """image id -> class id the latest decision says it is (accepted or corrected): the positives
    the learner uses (`workflows.learning.decided_examples`)."""
    from workflows.learning import decided_examples

    return {int(i): int(c) for i, c in decided_examples(project).positives}


def confused_pairs(project: Any, *, top: int = 5) -> list[ConfusedPair]:
    """The `top` most confused class pairs, most confused first.

    Ranked by decided confusions (decided A, predicted B, both directions) plus `CLOSE_WEIGHT` times
    the close calls among undecided images (top two classes are the pair, margin in the lowest
    `CLOSE_MARGIN_FRACTION` of the undecided images' margins), so a project with few decisions still
    gets the pairs worth asking about, and decisions take over as they accumulate. Reads the store only.
    """
    names = project.class_names_by_id(active_only=True)
    order = {cid: i for i, cid in enumerate(names)}
    decided = decided_labels(project)
    predicted = project.current_top1()
    counts: Counter[tuple[int, int]] = Counter()  # (decided, predicted)
    for iid, truth in decided.items():
        pred = predicted.get(iid)
        if pred is not None and pred != truth and truth in names and pred in names:
            counts[(truth, pred)] += 1
    close: Counter[tuple[int, int]] = Counter()
    run = project.latest_prediction_run()
    if run is not None:
        topk = project.run_topk(run.id)
        undecided = set(project.image_ids(ImageFilter(status="ok", review_status="unreviewed")))
        rows = [(tk[0][1] - tk[1][1], tk[0][0], tk[1][0]) for i, tk in topk.items() if i in undecided and len(tk) > 1]
        if rows:
            margins = torch.tensor([m for m, _, _ in rows])
            cut = float(torch.quantile(margins, CLOSE_MARGIN_FRACTION)) if len(rows) > 1 else float("inf")
            for m, c1, c2 in rows:
                if m <= cut and c1 in names and c2 in names:
                    close[_key(c1, c2, order)] += 1
    pairs: dict[tuple[int, int], ConfusedPair] = {}
    for (truth, pred), n in counts.items():
        a, b = _key(truth, pred, order)
        p = pairs.get((a, b)) or ConfusedPair(a, b, names[a], names[b])
        pairs[(a, b)] = replace(p, a_as_b=p.a_as_b + n) if truth == a else replace(p, b_as_a=p.b_as_a + n)
    for (a, b), n in close.items():
        p = pairs.get((a, b)) or ConfusedPair(a, b, names[a], names[b])
        pairs[(a, b)] = replace(p, close=n)
    ranked = sorted(
        pairs.values(),
        key=lambda p: (-(p.decided + CLOSE_WEIGHT * p.close), -p.decided, order[p.a], order[p.b]),
    )
    return [p for p in ranked if p.decided or p.close][: max(0, int(top))]


def _key(c1: int, c2: int, order: dict[int, int]) -> tuple[int, int]:
    return (c1, c2) if order[c1] <= order[c2] else (c2, c1)


def parse_pair(project: Any, spec: str) -> ConfusedPair:
    """`A:B` typed by a user -> the pair (class names may hold ':' themselves: every split is tried)."""
    from workflows.review import resolve_class

    names = project.class_names_by_id(active_only=True)
    found = []
    for i, ch in enumerate(spec):
        if ch != ":":
            continue
        left, right = spec[:i].strip(), spec[i + 1 :].strip()
        try:
            a, b = resolve_class(project, left), resolve_class(project, right)
        except UserError:
            continue
        found.append((a, b))
    if not found:
        raise UserError(f"--pairs {spec!r}: give two class names as A:B (or 'auto')")
    a, b = found[0]
    if a == b:
        raise UserError(f"--pairs {spec!r}: a class cannot be confused with itself")
    if a not in names or b not in names:
        raise UserError(f"--pairs {spec!r}: both classes must be active")
    return ConfusedPair(a, b, names[a], names[b])


# -- 2. ask the LLM ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposedAttribute:
    """One new attribute for one class of a confused pair, with where it came from."""

    class_id: int
    class_name: str
    text: str
    other_id: int  # the class it should tell this one from
    other_name: str

    @property
    def label(self) -> str:
        return f"{self.class_name}: {self.text}"


@dataclass
class Refinement:
    """What the model proposed for one pair (nothing written yet)."""

    pair: ConfusedPair
    model: str
    host: str
    prompt_version: str
    attributes: list[ProposedAttribute] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # proposals the classes already had

    @property
    def origin(self) -> str:
        """The provenance stored with accepted attributes."""
        return f"confusion prompt for pair {self.pair.a_name} vs {self.pair.b_name} (ollama {self.host})"


def propose_distinguishing(
    project: Any,
    a: int | ConfusedPair,
    b: int | None = None,
    *,
    model: str | None = None,
    n: int = DEFAULT_N,
    host: str | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    source: Any = None,
    cancel: CancelToken | None = None,
) -> Refinement:
    """Ask the model for attributes that tell class `a` from class `b` (both directions).

    The model sees both classes' current active attributes and is asked for new ones; replies
    go through the same parser and text hygiene as `attributes propose`, and texts either class
    already has are dropped (listed in `dropped`). `source` defaults to the project's Ollama
    source (tests pass their own). Raises `UserError` for a server or model problem.
    """
    from workflows.attributes import check_propose_args, make_ollama_source

    pair = a if isinstance(a, ConfusedPair) else _pair(project, int(a), int(b if b is not None else -1))
    check_propose_args(timeout=timeout, retries=retries, n=n)
    settings = load_settings(project)
    model = (model or settings.ollama_model or "").strip()
    if not model:
        raise UserError("no Ollama model chosen: pass --model NAME or set the ollama_model setting")
    specs = {cid: tuple(attrs) for cid, _name, attrs in project.class_specs()}
    own = source is None
    if own:
        extra = {k: v for k, v in (("timeout", timeout), ("retries", retries)) if v is not None}
        source = make_ollama_source(project, model=model, host=host, **extra)
    stop = threading.Event()

    def stopped() -> bool:
        return stop.is_set() or (cancel is not None and cancel.cancelled)

    try:
        try:
            model = source.ensure_model(model, stop=stopped)
        except SourceStopped:
            raise Cancelled() from None
        except AttributeSourceError as err:
            raise UserError(str(err)) from err
        out = Refinement(pair, model, getattr(source, "host", ""), prompting.contrast_prompt_version())
        taken = {t.casefold() for t in (*specs.get(pair.a, ()), *specs.get(pair.b, ()))}
        for cid, name, oid, oname in ((pair.a, pair.a_name, pair.b, pair.b_name),
                                      (pair.b, pair.b_name, pair.a, pair.a_name)):
            check(cancel)
            messages = prompting.build_contrast_messages(
                name,
                oname,
                own_attributes=specs.get(cid, ()),
                other_attributes=specs.get(oid, ()),
                domain_hint=settings.domain_hint,
                n=n,
            )
            try:
                prop = source.propose(
                    name, n=n, model=model, stop=stopped, messages=messages,
                    prompt_version=out.prompt_version,
                )
            except SourceStopped:
                raise Cancelled() from None
            except AttributeSourceError as err:
                raise UserError(f"{pair.label}: {err}") from err
            texts, notes = text.clean_attributes(prop.attributes)
            out.warnings.extend(f"{name}: {w}" for w in (*prop.warnings, *notes))
            for t in texts:
                if t.casefold() in taken:
                    out.dropped.append(f"{name}: {t}")
                    continue
                taken.add(t.casefold())
                out.attributes.append(ProposedAttribute(cid, name, t, oid, oname))
        return out
    finally:
        stop.set()
        if own:
            source.close()


def _pair(project: Any, a: int, b: int) -> ConfusedPair:
    names = project.class_names_by_id(active_only=True)
    if a not in names or b not in names or a == b:
        raise UserError(f"classes #{a} and #{b} are not two different active classes")
    return ConfusedPair(a, b, names[a], names[b])


# -- 3. preview from the cache --------------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """Accuracy on the decided images with some attributes added (before = the current set)."""

    accuracy: float | None  # all decided images
    pair_accuracy: float | None  # decided images of the pair's two classes
    fixed: int = 0  # decided images wrong before, right after
    broken: int = 0  # right before, wrong after


@dataclass
class RefinementPreview:
    """Before / after on the decided images, for each proposed attribute alone and all together."""

    n_decided: int  # decided images with cached features
    n_pair: int  # of them, decided as one of the pair's classes
    before: Effect
    together: Effect
    per_attribute: list[tuple[ProposedAttribute, Effect]] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)  # decided images without cached features


def preview_refinement(
    project: Any,
    proposals: Refinement | Sequence[ProposedAttribute],
    *,
    cancel: CancelToken | None = None,
) -> Generator[Progress, None, RefinementPreview]:
    """Accuracy on the decided images before and after adding the proposals, per attribute and
    all together, from cached features only (writes nothing)."""
    from workflows.scoring import ScoringContext

    attrs = list(proposals.attributes if isinstance(proposals, Refinement) else proposals)
    yield Progress(0, None, "loading model and classes", stage="prepare")
    ctx = ScoringContext.from_project(project)
    index = ctx.class_index
    for p in attrs:
        if p.class_id not in index:
            raise UserError(f"class {p.class_name!r} is not an active class any more")
    truth = {i: c for i, c in decided_labels(project).items() if c in index}
    ids, base, missing = yield from ctx.score_all(project, list(truth), cancel=cancel, stage="preview")
    y = torch.tensor([index[truth[i]] for i in ids], dtype=torch.long)
    pair_cols = {index[p.class_id] for p in attrs} | {index[p.other_id] for p in attrs}
    in_pair = torch.isin(y, torch.tensor(sorted(pair_cols), dtype=torch.long)) if len(y) else y.bool()
    before_hit = base.argmax(1) == y if len(y) else torch.zeros(0, dtype=torch.bool)
    result = RefinementPreview(len(ids), int(in_pair.sum()), _effect(before_hit, before_hit, in_pair),
                               _effect(before_hit, before_hit, in_pair), missing=missing)
    if not attrs or not len(ids):
        return result
    # one engine call: a column per variant (each attribute alone, then all of a class's together)
    variants: list[tuple[int, ClassSpec]] = []  # (column it replaces, spec)
    for p in attrs:
        spec = ctx.classes[index[p.class_id]]
        variants.append((index[p.class_id], ClassSpec(spec.name, (*spec.attributes, p.text))))
    together_cols = list(dict.fromkeys(index[p.class_id] for p in attrs))
    for col in together_cols:
        spec = ctx.classes[col]
        extra = tuple(p.text for p in attrs if index[p.class_id] == col)
        variants.append((col, ClassSpec(spec.name, (*spec.attributes, *extra))))
    check(cancel)
    yield Progress(0, len(variants), f"scoring {len(variants)} variants of the attribute set", stage="preview")
    sub = ScoringContext(**{**ctx.__dict__, "class_ids": [ctx.class_ids[c] for c, _ in variants],
                            "classes": [s for _, s in variants]})
    hashes = project.content_hashes(ids)
    cfg = replace(ctx.engine_cfg, topk=1, explain_top=0, prefilter_k=None)
    parts = []
    for _ids, res in sub.score_chunks(ids, hashes, config=cfg, return_all=True, cancel=cancel):
        if res.all_scores is None:
            raise RuntimeError("score_cached(return_all=True) returned no all_scores")
        parts.append(res.all_scores.float())
    scores = torch.cat(parts)  # [n, V]
    for v, p in enumerate(attrs):
        s = base.clone()
        s[:, variants[v][0]] = scores[:, v]
        result.per_attribute.append((p, _effect(before_hit, s.argmax(1) == y, in_pair)))
    s = base.clone()
    for j, col in enumerate(together_cols):
        s[:, col] = scores[:, len(attrs) + j]
    result.together = _effect(before_hit, s.argmax(1) == y, in_pair)
    yield Progress(len(variants), len(variants), "preview done", stage="done")
    return result


def _effect(before: torch.Tensor, after: torch.Tensor, in_pair: torch.Tensor) -> Effect:
    n, n_pair = len(after), int(in_pair.sum())
    return Effect(
        float(after.float().mean()) if n else None,
        float(after[in_pair].float().mean()) if n_pair else None,
        int((after & ~before).sum()),
        int((before & ~after).sum()),
    )


# -- 4. accept ------------------------------------------------------------------------------------------


@dataclass
class AcceptResult:
    added: list[ProposedAttribute]
    attribute_set_version: str
    origin: str


def accept_refinement(
    project: Any,
    refinement: Refinement,
    accept: Iterable[int | str | ProposedAttribute] | None = None,
    *,
    who: str | None = None,
) -> AcceptResult:
    """Append the accepted proposals to their classes in one transaction, with provenance.

    `accept`: the proposals to keep, as `ProposedAttribute`s, their indices in
    `refinement.attributes`, or their texts; None keeps all of them, an empty list none.
    """
    chosen = _chosen(refinement, accept)
    origin = refinement.origin
    if not chosen:
        return AcceptResult([], project.attribute_set_version(), origin)
    by_class: dict[int, list[str]] = {}
    for p in chosen:
        by_class.setdefault(p.class_id, []).append(p.text)
    try:
        project.replace_attributes(
            list(by_class.items()),
            mode="merge",
            source="llm",
            origin_model=refinement.model,
            prompt_version=refinement.prompt_version,
            origin=origin,
            who=who or load_settings(project).effective_reviewer,
            create_classes=False,
        )
    except AttributeEditError as err:
        raise UserError(str(err)) from err
    return AcceptResult(chosen, project.attribute_set_version(), origin)


def _chosen(refinement: Refinement, accept: Iterable[int | str | ProposedAttribute] | None) -> list[ProposedAttribute]:
    props = refinement.attributes
    if accept is None:
        return list(props)
    out: list[ProposedAttribute] = []
    for item in accept:
        if isinstance(item, ProposedAttribute):
            hit = [item] if item in props else []
        elif isinstance(item, int):
            hit = [props[item]] if 0 <= item < len(props) else []
        else:
            hit = [p for p in props if p.text.casefold() == str(item).casefold()]
        if not hit:
            raise UserError(f"{item!r} is not one of the proposed attributes")
        out.extend(h for h in hit if h not in out)
    return out
