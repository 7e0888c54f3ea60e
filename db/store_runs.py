"""Project store: runs, predictions, explanations (issue #6).

A run is written in batches, each batch one transaction (`write_prediction_batch`), so a killed
run keeps every finished batch and can be resumed: `predicted_image_ids(run_id)` says what is
already done. The newest prediction of each image is denormalised onto `Image.pred_*` in the same
transaction, so the review grid sorts by confidence from one indexed table.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update

from db.connection import LOCK_RUNS, ProjectError, server_write_lock
from db.models import AttributeEdit, Explanation, Image, LabelClass, Prediction, Run, utcnow

PREDICTION_KINDS = ("prelabel", "rescore")  # runs whose predictions label images (audit runs don't)
UNFINISHED = ("running", "cancelled", "failed")
INTERRUPTED = "interrupted: the process running it stopped (killed or crashed); run it again to resume"


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for
    the original process; '' where /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def this_process() -> str:
    """The owner stamp of runs this process starts or resumes: host | pid | start ticks."""
    pid = os.getpid()
    return f"{socket.gethostname()}|{pid}|{_start_ticks(pid)}"[:128]


def owner_gone(owner: str | None) -> bool:
    """Whether the process that stamped `owner` has certainly ended: same host, and its pid is free
    or now belongs to a later process. Unknown owners, other hosts and non-POSIX systems: no."""
    if not owner or os.name != "posix":
        return False
    host, _, rest = owner.partition("|")
    pid_s, _, ticks = rest.partition("|")
    if host != socket.gethostname() or not pid_s.isdigit():
        return False
    pid = int(pid_s)
    try:
        os.kill(pid, 0)  # signal 0: existence check only (POSIX)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return bool(ticks) and _start_ticks(pid) not in ("", ticks)
CLASS_IDENTITY_EDITS = ("rename_class", "merge_classes", "delete_class")
#: a lease held from another host lapses when its heartbeat is older than this
LEASE_STALE = dt.timedelta(minutes=10)


class RunInProgress(ProjectError):
    """Another live process holds the lease of a pre-label / re-score run on this project."""

    def __init__(self, run_id: int, kind: str, owner: str) -> None:
        host, _, rest = owner.partition("|")
        pid = rest.partition("|")[0]
        self.run_id, self.kind, self.host, self.pid = run_id, kind, host, int(pid) if pid.isdigit() else None
        super().__init__(
            f"run #{run_id} ({kind}) is in progress (pid {pid or '?'} on {host or '?'}); "
            "wait for it with --wait, or help it with --join (works on the images it has not reached)"
        )


def owner_alive(owner: str | None, heartbeat: dt.datetime | None) -> bool:
    """Whether a run's owner still holds its lease: a live process on this host, or an owner on
    another host whose heartbeat is recent."""
    if not owner or owner == this_process():
        return False
    if owner_gone(owner):
        return False
    host = owner.partition("|")[0]
    if host == socket.gethostname():
        return True  # owner_gone said it is alive
    return heartbeat is not None and utcnow() - heartbeat < LEASE_STALE


@dataclass(frozen=True)
class RunRow:
    """One run as the GUI's run list and the CLI show it."""

    id: int
    kind: str
    parent_run_id: int | None
    model_id: str
    engine_config: dict[str, Any]
    attribute_set_version: str
    status: str
    n_images: int
    n_done: int
    n_errors: int
    timings: dict[str, Any]
    message: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True)
class PredictionRow:
    """The prediction of one image in one run; `topk` is (class_id, class_name, score), best first."""

    run_id: int
    class_id: int | None
    score: float
    margin: float
    topk: list[tuple[int, str, float]] = field(default_factory=list)

    @property
    def class_name(self) -> str | None:
        return self.topk[0][1] if self.topk else None


@dataclass(frozen=True)
class PredictionWrite:
    """One image's result as the pre-label/re-score use case hands it to the store."""

    image_id: int
    class_id: int | None
    score: float
    margin: float
    topk: list[tuple[int, float]]  # (class_id, score), best first
    explanations: dict[int, dict[str, Any]] = field(default_factory=dict)  # class_id -> JSON


def _run_row(r: Run) -> RunRow:
    return RunRow(
        id=r.id,
        kind=r.kind,
        parent_run_id=r.parent_run_id,
        model_id=r.model_id,
        engine_config=dict(r.engine_config or {}),
        attribute_set_version=r.attribute_set_version,
        status=r.status,
        n_images=r.n_images,
        n_done=r.n_done,
        n_errors=r.n_errors,
        timings=dict(r.timings or {}),
        message=r.message,
        started_at=r.started_at,
        finished_at=r.finished_at,
    )


class RunsMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        *,
        kind: str,
        model_id: str,
        engine_config: dict[str, Any],
        attribute_set_version: str,
        n_images: int,
        parent_run_id: int | None = None,
        timings: dict[str, Any] | None = None,
    ) -> int:
        """Start a run (status 'running', leased to this process) and return its id. For pre-label and
        re-score runs: RunInProgress if another live process holds a running one (checked under
        the write lock, so two processes starting together cannot both pass)."""
        with self.session() as s:
            if kind in PREDICTION_KINDS:
                self._take_write_lock(s)
                self._refuse_running(s, exclude=None)
            run = Run(
                kind=kind,
                parent_run_id=parent_run_id,
                model_id=model_id,
                engine_config=engine_config,
                attribute_set_version=attribute_set_version,
                status="running",
                n_images=n_images,
                timings=timings or {},
                owner=this_process(),
                heartbeat_at=utcnow(),
            )
            s.add(run)
            s.flush()
            return run.id

    @staticmethod
    def _take_write_lock(s: Any) -> None:
        """Start the write transaction now (a no-op write), so what is read next cannot change
        before this transaction commits."""
        if not server_write_lock(s, LOCK_RUNS):
            s.execute(update(Run).where(Run.id == -1).values(status=Run.status))

    def _refuse_running(self, s: Any, exclude: int | None) -> None:
        q = select(Run).where(Run.status == "running", Run.kind.in_(PREDICTION_KINDS))
        for r in s.scalars(q):
            if r.id != exclude and owner_alive(r.owner, r.heartbeat_at):
                raise RunInProgress(r.id, r.kind, r.owner or "")

    def claim_run(self, run_id: int, *, join: bool = False) -> bool:
        """Take the lease of a run this process resumes: status 'running', owner this process.
        RunInProgress if a live process holds it (or another pre-label/re-score run) — unless
        `join`, which works beside the owner without taking its lease. Returns whether this
        process now owns the run."""
        with self.session() as s:
            self._take_write_lock(s)
            r = s.get(Run, run_id)
            if r is None:
                raise KeyError(f"no run {run_id}")
            held = r.status == "running" and owner_alive(r.owner, r.heartbeat_at)
            if held and join:
                return False
            if held:
                raise RunInProgress(r.id, r.kind, r.owner or "")
            self._refuse_running(s, exclude=run_id)
            r.status = "running"
            r.owner = this_process()
            r.heartbeat_at = utcnow()
            r.message = ""
            r.finished_at = None
            return True

    def run_lease(self, run_id: int) -> tuple[str, bool]:
        """(status, held by another live process) of a run, for a process that waits for it."""
        with self.session() as s:
            r = s.get(Run, run_id)
            if r is None:
                return "gone", False
            return r.status, r.status == "running" and owner_alive(r.owner, r.heartbeat_at)

    def _mark_interrupted(self, s: Any) -> None:
        """Runs still 'running' whose process has ended (kill -9, crash, power loss) become 'failed'
        with a message saying so: what they wrote stays, and running them again resumes."""
        if getattr(self, "read_only", False):
            return
        for r in s.scalars(select(Run).where(Run.status == "running", Run.owner.is_not(None))):
            if owner_gone(r.owner):
                r.status = "failed"
                r.message = INTERRUPTED
        s.flush()

    def runs(self, kind: str | None = None) -> list[RunRow]:
        """All runs, newest first (optionally of one kind); runs whose process died are shown failed."""
        with self.session() as s:
            self._mark_interrupted(s)
            q = select(Run).order_by(Run.id.desc())
            if kind is not None:
                q = q.where(Run.kind == kind)
            return [_run_row(r) for r in s.scalars(q)]

    def run(self, run_id: int) -> RunRow | None:
        with self.session() as s:
            self._mark_interrupted(s)
            r = s.get(Run, run_id)
            return None if r is None else _run_row(r)

    def latest_prediction_run(self, *, finished_only: bool = False) -> RunRow | None:
        """The newest pre-label or re-score run (the one whose labels the grid shows)."""
        with self.session() as s:
            self._mark_interrupted(s)
            q = select(Run).where(Run.kind.in_(PREDICTION_KINDS)).order_by(Run.id.desc()).limit(1)
            if finished_only:
                q = q.where(Run.status == "done")
            r = s.scalars(q).first()
            return None if r is None else _run_row(r)

    def update_run(
        self,
        run_id: int,
        *,
        status: str | None = None,
        n_images: int | None = None,
        timings: dict[str, Any] | None = None,
        message: str | None = None,
        finished: bool = False,
    ) -> None:
        """Change a run's status / totals / timings; `finished` stamps finished_at."""
        with self.session() as s:
            r = s.get(Run, run_id)
            if r is None:
                raise KeyError(f"no run {run_id}")
            if status is not None:
                r.status = status
                if status == "running":  # resumed here: this process owns it now
                    r.owner = this_process()
            if n_images is not None:
                r.n_images = n_images
            if timings is not None:
                r.timings = dict(timings)
            if message is not None:
                r.message = message
            r.finished_at = utcnow() if finished else None

    def delete_run(self, run_id: int) -> None:
        """Drop a run and (by cascade) its predictions/explanations; restores older denormalised preds."""
        with self.session() as s:
            affected = list(s.scalars(select(Image.id).where(Image.pred_run_id == run_id)))
            s.execute(delete(Explanation).where(Explanation.run_id == run_id))
            s.execute(delete(Prediction).where(Prediction.run_id == run_id))
            s.execute(delete(Run).where(Run.id == run_id))
            s.flush()
            self._refresh_denormalised_predictions(s, affected)

    # -- predictions ---------------------------------------------------------------------------
    def predicted_image_ids(self, run_id: int, *, current_only: bool = False) -> set[int]:
        """Images that already have a prediction in this run (what a resume skips). `current_only`:
        only those the image still shows (a re-scan of a changed file clears `Image.pred_*`)."""
        with self.session() as s:
            q = select(Prediction.image_id).where(Prediction.run_id == run_id)
            if current_only:
                q = q.join(Image, Image.id == Prediction.image_id).where(Image.pred_run_id == run_id)
            return set(s.scalars(q))

    def forget_predictions(self, run_id: int, image_ids: Iterable[int]) -> None:
        """Drop some images' predictions and explanations from a run (stale after a file changed)."""
        ids = list(image_ids)
        if not ids:
            return
        with self.session() as s:
            s.execute(delete(Explanation).where(Explanation.run_id == run_id, Explanation.image_id.in_(ids)))
            s.execute(delete(Prediction).where(Prediction.run_id == run_id, Prediction.image_id.in_(ids)))
            run = s.get(Run, run_id)
            if run is not None:
                run.n_done = s.scalar(
                    select(func.count()).select_from(Prediction).where(Prediction.run_id == run_id)
                )

    def write_prediction_batch(
        self,
        run_id: int,
        rows: Sequence[PredictionWrite],
        *,
        errors: Iterable[tuple[int, str]] = (),
        timings: dict[str, Any] | None = None,
    ) -> None:
        """One batch of a run in ONE transaction: predictions, explanations, denormalised image
        columns, per-image load errors and the run's counters. Rows already stored are skipped."""
        errors = list(errors)
        with self.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise KeyError(f"no run {run_id}")
            ids = [r.image_id for r in rows]
            have = (
                set(
                    s.scalars(
                        select(Prediction.image_id).where(
                            Prediction.run_id == run_id, Prediction.image_id.in_(ids)
                        )
                    )
                )
                if ids
                else set()
            )
            fresh = [r for r in rows if r.image_id not in have]
            if fresh:
                s.execute(
                    Prediction.__table__.insert(),
                    [
                        {
                            "run_id": run_id,
                            "image_id": r.image_id,
                            "class_id": r.class_id,
                            "score": float(r.score),
                            "margin": float(r.margin),
                            "topk": [[int(c), float(v)] for c, v in r.topk],
                        }
                        for r in fresh
                    ],
                )
                expl = [
                    {"run_id": run_id, "image_id": r.image_id, "class_id": int(c), "data": data}
                    for r in fresh
                    for c, data in r.explanations.items()
                ]
                if expl:
                    s.execute(Explanation.__table__.insert(), expl)
                if run.kind in PREDICTION_KINDS:
                    self._denormalise(s, run_id, fresh)
            for image_id, reason in errors:
                img = s.get(Image, image_id)
                if img is not None:
                    img.status = "error"
                    img.error = reason
            run.n_done = (run.n_done or 0) + len(fresh)
            run.n_errors = (run.n_errors or 0) + len(errors)
            if run.owner == this_process():
                run.heartbeat_at = utcnow()
            if timings is not None:
                run.timings = dict(timings)

    @staticmethod
    def _denormalise(s: Any, run_id: int, rows: Sequence[PredictionWrite]) -> None:
        """Copy each row onto Image.pred_* unless the image already shows a newer run (one executemany)."""
        t = Image.__table__
        stmt = (
            update(t)
            .where(t.c.id == bindparam("b_id"), or_(t.c.pred_run_id.is_(None), t.c.pred_run_id <= run_id))
            .values(
                pred_run_id=run_id,
                pred_class_id=bindparam("b_cls"),
                pred_score=bindparam("b_score"),
                pred_margin=bindparam("b_margin"),
            )
        )
        s.connection().execute(
            stmt,
            [
                {
                    "b_id": r.image_id,
                    "b_cls": r.class_id,
                    "b_score": float(r.score),
                    "b_margin": float(r.margin),
                }
                for r in rows
            ],
        )

    @staticmethod
    def _refresh_denormalised_predictions(s: Any, image_ids: Sequence[int]) -> None:
        for img in s.scalars(select(Image).where(Image.id.in_(list(image_ids)))):
            p = s.scalars(
                select(Prediction)
                .join(Run, Run.id == Prediction.run_id)
                .where(Prediction.image_id == img.id, Run.kind.in_(PREDICTION_KINDS))
                .order_by(Prediction.run_id.desc())
                .limit(1)
            ).first()
            img.pred_run_id = p.run_id if p else None
            img.pred_class_id = p.class_id if p else None
            img.pred_score = p.score if p else None
            img.pred_margin = p.margin if p else None

    def _class_names(self, s: Any) -> dict[int, str]:
        """Every class id a run may name: live classes, and deleted ones as "name (deleted)"."""
        names = {int(i): f"{n} (deleted)" for i, n in self._deleted_class_names(s).items()}  # type: ignore[attr-defined]
        names.update(s.execute(select(LabelClass.id, LabelClass.name)).all())
        return names

    def latest_prediction(self, image_id: int) -> PredictionRow | None:
        """The prediction the grid shows for an image (newest pre-label/re-score run), or None."""
        with self.session() as s:
            img = s.get(Image, image_id)
            if img is None or img.pred_run_id is None:
                return None
            p = s.scalars(
                select(Prediction).where(
                    Prediction.run_id == img.pred_run_id, Prediction.image_id == image_id
                )
            ).first()
            if p is None:
                return None
            return self._prediction_row(p, self._class_names(s))

    def prediction(self, image_id: int, run_id: int) -> PredictionRow | None:
        """The prediction of one image in one given run."""
        with self.session() as s:
            p = s.scalars(
                select(Prediction).where(Prediction.run_id == run_id, Prediction.image_id == image_id)
            ).first()
            return None if p is None else self._prediction_row(p, self._class_names(s))

    @staticmethod
    def _prediction_row(p: Prediction, names: dict[int, str]) -> PredictionRow:
        topk = [(int(c), names.get(int(c), f"#{c}"), float(v)) for c, v in (p.topk or [])]
        return PredictionRow(p.run_id, p.class_id, float(p.score), float(p.margin), topk)

    def run_top1(self, run_id: int) -> dict[int, int | None]:
        """image_id -> top-1 class id for every prediction of a run (re-score previews diff this)."""
        with self.session() as s:
            return dict(
                s.execute(
                    select(Prediction.image_id, Prediction.class_id).where(Prediction.run_id == run_id)
                ).all()
            )

    def run_topk(self, run_id: int) -> dict[int, list[tuple[int, float]]]:
        """image_id -> stored top-k (class_id, score), best first, for every prediction of a run."""
        with self.session() as s:
            rows = s.execute(select(Prediction.image_id, Prediction.topk).where(Prediction.run_id == run_id))
            return {int(i): [(int(c), float(v)) for c, v in (tk or [])] for i, tk in rows}

    def run_explanations(
        self, run_id: int, image_ids: Sequence[int]
    ) -> dict[tuple[int, int], dict[str, Any]]:
        """(image_id, class_id) -> stored explanation JSON of a run, for some images."""
        out: dict[tuple[int, int], dict[str, Any]] = {}
        ids = list(image_ids)
        with self.session() as s:
            for start in range(0, len(ids), 5000):
                q = select(Explanation.image_id, Explanation.class_id, Explanation.data).where(
                    Explanation.run_id == run_id, Explanation.image_id.in_(ids[start : start + 5000])
                )
                out.update(((int(i), int(c)), d) for i, c, d in s.execute(q))
        return out

    def class_identity_changed_since(self, when: dt.datetime) -> bool:
        """Whether a class was renamed, merged or deleted since `when` (stored class ids then mean
        something else, so results cannot be carried over by id)."""
        with self.session() as s:
            q = (
                select(func.count())
                .select_from(AttributeEdit)
                .where(AttributeEdit.action.in_(CLASS_IDENTITY_EDITS), AttributeEdit.at >= when)
            )
            return bool(s.scalar(q))

    def current_top1(self) -> dict[int, int | None]:
        """image_id -> denormalised top-1 class id, for images that have a prediction."""
        with self.session() as s:
            return dict(
                s.execute(select(Image.id, Image.pred_class_id).where(Image.pred_run_id.is_not(None))).all()
            )

    # -- explanations --------------------------------------------------------------------------
    def explanations(self, image_id: int, run_id: int | None = None) -> dict[int, dict[str, Any]]:
        """class_id -> stored explanation JSON for an image (default: its latest prediction run)."""
        with self.session() as s:
            if run_id is None:
                img = s.get(Image, image_id)
                run_id = None if img is None else img.pred_run_id
                if run_id is None:
                    return {}
            rows = s.execute(
                select(Explanation.class_id, Explanation.data).where(
                    Explanation.run_id == run_id, Explanation.image_id == image_id
                )
            ).all()
            return {int(c): d for c, d in rows}
