"""`lazlabel learn`: learn from the curators' decisions (issue #17).

    lazlabel learn [--preview] [--method attributes|adapter] [--seed N]
    lazlabel learn runs
    lazlabel learn use RUN | zero-shot
    lazlabel learn weights [--run RUN] [--unhelpful]
"""

from __future__ import annotations

import argparse
from typing import Any

from cli.project_cmds import with_project
from cli.run_cmds import _drive, _table
from engine.types import LEARN_METHODS
from workflows.errors import UserError

ZERO_SHOT_NAMES = ("zero-shot", "zeroshot", "none", "0")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _learn(project: Any, args: argparse.Namespace) -> int:
    from workflows.learning import learn

    res = _drive(lambda c: learn(project, method=args.method, seed=args.seed, preview=args.preview, cancel=c),
                 "learn")
    print(res.message)
    if not res.explainable:
        print(f"note: {res.method} is less explainable: its correction is a similarity to decided images, "
              "not a sum over attributes")
    moves = res.named_changes(project.class_names_by_id())
    if moves:
        print(_table([[a, b, n] for a, b, n in moves[: args.limit]], ["from", "to", "images"]))
    if args.preview:
        if res.n_changed:
            print("commit with `lazlabel learn` (without --preview)")
    else:
        print(f"learning run #{res.run_id} is active; undo with `lazlabel learn use zero-shot` "
              "(or `lazlabel learn use RUN` for an earlier run)")
    return 0


def _runs(project: Any, args: argparse.Namespace) -> int:
    from workflows.learning import learning_runs

    runs = learning_runs(project)
    if not runs:
        print("no learning runs yet (run `lazlabel learn`)")
        return 0
    rows = [[("* " if r.active else "  ") + str(r.id), r.parent_run_id, r.status, r.method,
             ", ".join(f"{k}={v}" for k, v in r.hyperparameters.items()), r.n_decisions, r.last_decision_id,
             _pct(r.cv_zero_shot), _pct(r.cv_learned), r.n_changed, r.started_at.strftime("%Y-%m-%d %H:%M")]
            for r in runs]
    print(_table(rows, ["run", "over", "status", "method", "hyperparameters", "decisions", "last decision",
                        "zero-shot (held out)", "learned (held out)", "changed", "started"]))
    print("* = active (the labels review, export and audit see)")
    return 0


def _use(project: Any, args: argparse.Namespace) -> int:
    from workflows.learning import activate

    target = str(args.run).strip().lstrip("#").lower()
    if target in ZERO_SHOT_NAMES:
        activate(project, None)
        print("showing the zero-shot predictions")
        return 0
    try:
        run_id = int(target)
    except ValueError:
        raise UserError(f"'{args.run}' is not a learning run id or 'zero-shot'") from None
    activate(project, run_id)
    print(f"showing learning run #{run_id}")
    return 0


def _weights(project: Any, args: argparse.Namespace) -> int:
    from workflows.learning import attribute_weights, unhelpful_attributes

    names = project.class_names_by_id()
    if args.unhelpful:
        rows = [[names.get(u.class_id, u.class_id), u.text, f"{u.weight:+.2f}"]
                for u in unhelpful_attributes(project, args.run)]
        print(_table(rows, ["class", "attribute", "weight"]) if rows else "no unhelpful attributes")
        return 0
    weights = attribute_weights(project, args.run)
    if not weights:
        print("this learning run learned no attribute weights (no decided classes, or a method without them)")
        return 0
    texts = {a.id: a.text for a in project.list_attributes()}
    rows = [[names.get(cid, cid), texts.get(aid, aid), f"{w:+.2f}"]
            for cid, ws in weights.items() for aid, w in sorted(ws.items(), key=lambda kv: -kv[1])]
    print(_table(rows, ["class", "attribute", "weight"]))
    return 0


def learn_status_line(project: Any) -> str | None:
    """`lazlabel stats`: which labels the images show, once there is a learning run (else None)."""
    from workflows.learning import active_learning_run

    if not project.runs(kind="learn"):
        return None
    run = active_learning_run(project)
    if run is None:
        return "labels shown: zero-shot (`lazlabel learn runs` lists the learning runs)"
    rec = run.engine_config.get("learn") or {}
    return (f"labels shown: learning run #{run.id} ({rec.get('method')}, {rec.get('n_decisions')} decisions, "
            f"latest decision #{rec.get('last_decision_id')})")


def _nonneg(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return v


def register(subs: argparse._SubParsersAction) -> None:
    p = subs.add_parser(
        "learn", help="learn from the decisions so far (better pre-labels, still explained)",
        description="Learn from accepted, corrected and rejected images: per-class attribute weights "
        "(attributes: the score stays a sum over attributes, explanations show the weights) or a "
        "cache model on the image features (adapter: stronger, less explainable). Works from the "
        "feature cache only; hyperparameters are picked by cross-validation on the decided images.")
    p.add_argument("--preview", action="store_true", help="say which labels would change; write nothing")
    p.add_argument("--method", choices=list(LEARN_METHODS), default="attributes",
                   help="; ".join(f"{m.name}: {m.description}" for m in LEARN_METHODS.values()))
    p.add_argument("--seed", type=_nonneg, default=0, help="seed of the cross-validation folds (default 0)")
    p.add_argument("--limit", type=_nonneg, default=20, help="rows of the from -> to table (default 20)")
    p.set_defaults(func=with_project(_learn))
    sub = p.add_subparsers(dest="learn_command", metavar="{runs,use,weights}")
    r = sub.add_parser("runs", help="the learning runs, newest first (* = active)")
    r.set_defaults(func=with_project(_runs))
    u = sub.add_parser("use", help="show a learning run's labels, or zero-shot (the undo of learning)")
    u.add_argument("run", metavar="RUN|zero-shot")
    u.set_defaults(func=with_project(_use))
    w = sub.add_parser("weights", help="learned attribute weights (default: the active learning run)")
    w.add_argument("--run", type=_nonneg, default=None, help="a learning run id")
    w.add_argument("--unhelpful", action="store_true", help="only attributes with a weight near zero or negative")
    w.set_defaults(func=with_project(_weights))
