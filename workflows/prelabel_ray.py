"""`lazlabel prelabel --ray`: the same pre-label run, its images encoded on a Ray cluster.

Everything but the encoding is the local run's (workflows/prelabel.py): the run is created,
leased, resumed and finished there, and every batch's predictions are written in their own
transaction, so a Ray run and a local run continue each other. Only the engine batches come from
elsewhere: images the feature store already holds are scored here at once; the others go through
Ray Data actors (engine/distributed.py) that write their shards into the store, and each batch
is scored here from the store as it comes back. This module is the only one that imports Ray
(through engine.distributed), and only `--ray` imports it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.pipeline import BatchResult, ImageItem, score_cached
from workflows.errors import UserError
from workflows.prelabel import RunSummary, run_prelabel
from workflows.progress import CancelToken, Progress
from workflows.scoring import ScoringContext
from workflows.settings import ProjectSettings


@dataclass
class RaySource:
    """A `workflows.prelabel.BatchSource` that encodes on a Ray cluster.

    `address`: None or "" starts a local Ray instance (stopped at the end); "auto", "HOST:PORT" or
    "ray://HOST:10001" join a cluster. `workers`: actors in the pool (default one per GPU, or one
    per CPU core on a CPU-only cluster). `gpus_per_worker`: each actor's share of a GPU (default
    engine.distributed.GPU_SHARE: several actors cut views for one GPU). `trace_dir`: see
    engine.distributed.WorkerSpec.
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None
    trace_dir: str = ""

    def __call__(self, project: Any, ctx: ScoringContext, run_id: int, items: list[ImageItem],
                 cancel: CancelToken | None, from_end: bool) -> Iterator[BatchResult]:
        from engine import distributed

        order = list(reversed(items)) if from_end else list(items)
        total = len(order)
        ready = [it for it in order if ctx.cache.has(it.content_hash)]
        done = 0
        for start in range(0, len(ready), ctx.engine_cfg.batch_size):  # cached already: scored here
            part = ready[start:start + ctx.engine_cfg.batch_size]
            done += len(part)
            yield BatchResult(part, _score(ctx, part), done=done, total=total)
            if cancel is not None and cancel.cancelled:
                return
        todo = [it for it in order if not ctx.cache.has(it.content_hash)]
        if not todo:
            return
        try:
            started = distributed.connect(self.address or None)
        except (ConnectionError, TimeoutError, ValueError) as err:
            raise UserError(f"cannot reach the Ray cluster at {self.address}: {err}") from None
        try:
            cluster = distributed.plan(self.workers, cpus_per_worker=self.cpus_per_worker,
                                       gpus_per_worker=self.gpus_per_worker or distributed.GPU_SHARE)
            spec = distributed.WorkerSpec(
                model=ctx.settings.model, model_id=ctx.model_id, device=ctx.settings.device,
                precision=ctx.settings.precision, view=ctx.view_cfg.to_dict(),
                store=str(Path(ctx.cache.root).resolve()), batch_size=ctx.engine_cfg.batch_size,
                trace_dir=self.trace_dir,
            )
            by_key = {it.key: it for it in todo}
            for ev in distributed.encode_distributed(todo, spec, cluster):
                ctx.cache.refresh()  # the shards the workers just committed
                part = [by_key[k] for k in ev.encoded]
                done += len(part) + len(ev.errors)
                yield BatchResult(part, _score(ctx, part) if part else None, errors=dict(ev.errors), done=done,
                                  total=total)
                if cancel is not None and cancel.cancelled:
                    return
        finally:
            if started:
                import ray

                ray.shutdown()


def _score(ctx: ScoringContext, part: Sequence[ImageItem]) -> Any:
    """Score images from the store exactly as a local batch is (engine.pipeline.prelabel)."""
    hashes = [it.content_hash for it in part]
    lost = ctx.cache.missing(hashes)
    if lost:
        raise UserError(f"the Ray workers stored features this machine cannot see ({len(lost)} images, e.g. "
                        f"{lost[0][:12]}) in {ctx.cache.dir}: give a feature store every node mounts at the "
                        "same path (--cache-dir)")
    return score_cached(ctx.model, ctx.cache, hashes, ctx.classes, ctx.engine_cfg, view_mode=ctx.view_cfg.mode)


def run_prelabel_ray(
    project: Any,
    *,
    address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    scope: str = "all",
    settings: ProjectSettings | None = None,
    cancel: CancelToken | None = None,
    join: bool = False,
    force: bool = False,
    trace_dir: str = "",
) -> Generator[Progress, None, RunSummary]:
    """`workflows.prelabel.run_prelabel` with its images encoded on a Ray cluster (see RaySource)."""
    try:
        from engine import distributed  # imports Ray: the optional extra
    except ImportError as err:
        if (err.name or "").split(".")[0] != "ray":
            raise
        raise UserError("--ray needs Ray: pip install 'lazlabel[ray]'") from None
    if workers is not None and workers < 1:
        raise UserError("--workers must be at least 1")
    if gpus_per_worker is not None and not 0 < gpus_per_worker <= 1:
        raise UserError("--gpus-per-worker is a share of one GPU: more than 0, at most 1")
    if address:
        try:
            distributed.check_address(address)  # before a run is created, not minutes later
        except ConnectionError as err:
            raise UserError(f"cannot reach the Ray cluster at {address}: {err}") from None
    source = RaySource(address, workers, gpus_per_worker=gpus_per_worker, trace_dir=trace_dir)
    return (yield from run_prelabel(project, scope=scope, settings=settings, cancel=cancel, join=join, force=force,
                                    source=source))
