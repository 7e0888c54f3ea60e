"""Pre-label encoding spread over a Ray cluster with Ray Data (docs/architecture.md, "Large datasets").

Only imported by `lazlabel prelabel --ray` (workflows/prelabel_ray.py): a local run never imports
Ray. The image list becomes a Ray dataset; `map_batches` sends batches through a pool of actors
that each hold the model once and run exactly the local encoder (`engine.pipeline.encode_images`:
same views, same passes) into the shared feature store (engine/cache.py, content-addressed shards).
Each batch comes back as one small table (image key, error, W, H); the driver scores it from the
store and writes the predictions through the same run as a local pre-label.

Faults: Ray Data restarts a dead actor and retries the batch it held (its actor pools default to
unlimited restarts and task retries); every actor takes one batch at a time and every batch
already committed stays in the store, so a killed worker loses only its batch. An error raised
inside a batch (not a death) fails the run, which resumes later where it stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch

from engine.cache import FeatureCache
from engine.models import load_model
from engine.pipeline import EncodeEvent, ImageItem, encode_images
from engine.types import ViewConfig

#: a GPU's share per actor: each actor cuts views on one CPU thread (about 5 images/s, 91 views each,
#: on a dedicated core), far below what one GPU encodes (~30 images/s for ViT-B/16 in fp16), so
#: several actors feed each GPU (docs/architecture.md, "Large datasets")
GPU_SHARE = 0.125
#: seconds to wait for a Ray head at HOST:PORT before saying nobody answers
CONNECT_TIMEOUT_S = 10.0
#: how long a held worker waits for its release file (tests' failure injection)
HOLD_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class WorkerSpec:
    """What every encoding actor needs: the model (its spec and the id the driver resolved), the
    view configuration, the shared store folder and the engine batch size.

    `trace_dir` lets a test or benchmark find the workers: each writes ``<trace_dir>/<pid>.busy``
    when it starts a batch; while ``<trace_dir>/hold`` exists it then waits (failure injection:
    a test kills it mid-batch by PID, tests/workflows/test_ray_prelabel.py)."""

    model: str
    model_id: str
    device: str
    precision: str
    view: dict[str, Any]
    store: str
    batch_size: int
    trace_dir: str = ""


@dataclass(frozen=True)
class ClusterPlan:
    """How many actors, and what each reserves (a GPU each when the cluster has them)."""

    workers: int
    cpus: float
    gpus: float


class EncodeWorker:
    """A Ray Data actor: loads the model once, then encodes batches into the shared store. Ray
    gets a subclass carrying the spec (`_worker_class`): no constructor arguments to keep in the
    object store for restarts."""

    SPEC: WorkerSpec

    def __init__(self) -> None:
        spec = self.SPEC
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
        torch.set_num_threads(max(1, int(cpus)))  # no oversubscription of the node's cores
        self.spec = spec
        self.model = load_model(spec.model, spec.device, spec.precision)
        if self.model.model_id != spec.model_id:
            raise RuntimeError(f"worker on {os.uname().nodename} loaded {self.model.model_id}, the run uses "
                               f"{spec.model_id}: install the same weights on every node")
        self.view_cfg = ViewConfig.from_dict(spec.view)
        self.cache = FeatureCache(Path(spec.store), spec.model_id, self.view_cfg.key())

    def _trace(self) -> None:
        trace = Path(self.spec.trace_dir)
        (trace / f"{os.getpid()}.busy").write_text("")
        deadline = time.monotonic() + HOLD_TIMEOUT_S
        while (trace / "hold").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.spec.trace_dir:
            self._trace()
        self.cache.refresh()  # what other workers committed (a retried batch finds its own shards)
        keys = [int(k) for k in batch["key"]]
        items = [ImageItem(k, Path(str(p)), str(h)) for k, p, h in zip(keys, batch["path"], batch["hash"])]
        errors: dict[Any, str] = {}
        for ev in encode_images(self.model, items, self.view_cfg, self.cache, batch_size=self.spec.batch_size):
            errors.update(ev.errors)
        return {  # image sizes travel in the shards (the driver reads them from the store)
            "key": np.asarray(keys, dtype=np.int64),
            "error": np.asarray([errors.get(k, "") for k in keys], dtype=object),
            "pid": np.full(len(keys), os.getpid(), dtype=np.int64),
        }


def _worker_class(spec: WorkerSpec) -> type[EncodeWorker]:
    return type("EncodeWorker", (EncodeWorker,), {"SPEC": spec, "__module__": __name__})


def check_address(address: str) -> None:
    """Fail fast (ConnectionError) on a HOST:PORT nobody listens on; Ray itself retries for minutes."""
    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit():
        return  # "auto", ray://: Ray's own checks
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise ConnectionError(f"nothing answers at {address} ({err.strerror or err})") from None


def connect(address: str | None, *, num_cpus: int | None = None) -> bool:
    """Join the Ray cluster at `address` ("auto", "HOST:PORT", "ray://HOST:10001"), or start a local
    instance when it is empty; reuses a connection this process already has. True when this call
    started Ray (the caller shuts it down)."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine unasked
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
                          "configure_logging": False}
    if address:
        check_address(address)
        ray.init(address=address, **kw)
    else:  # a private instance on loopback, stopped by the caller at the end
        ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", **kw)
    return True


def plan(workers: int | None, *, cpus_per_worker: float = 1.0, gpus_per_worker: float = GPU_SHARE) -> ClusterPlan:
    """On a GPU cluster `1 / gpus_per_worker` actors per GPU, else one per `cpus_per_worker` cores;
    `workers` overrides the count."""
    res = ray.cluster_resources()
    gpus, by_cpu = float(res.get("GPU", 0)), max(1, int(res.get("CPU", 1) // cpus_per_worker))
    if gpus:  # as many as the GPUs' shares allow and the cores can host
        return ClusterPlan(workers or max(1, min(int(gpus / gpus_per_worker), by_cpu)), cpus_per_worker,
                           gpus_per_worker)
    return ClusterPlan(workers or by_cpu, cpus_per_worker, 0.0)


def encode_distributed(items: Sequence[ImageItem], spec: WorkerSpec, cluster: ClusterPlan) -> Iterator[EncodeEvent]:
    """Encode `items` on the cluster into the store; one EncodeEvent per finished batch, in the
    order batches finish (keys encoded or found cached, errors, image sizes). Closing the iterator
    stops the dataset (finished batches stay in the store)."""
    items = list(items)
    if not items:
        return
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # our own progress bar says how far it got
    rows = [{"key": int(it.key), "path": str(it.path), "hash": it.content_hash} for it in items]
    n_blocks = max(1, -(-len(rows) // spec.batch_size))  # one batch per block: a retry redoes one batch
    ds = ray.data.from_items(rows, override_num_blocks=n_blocks).map_batches(
        _worker_class(spec),
        batch_size=spec.batch_size,
        batch_format="numpy",
        # one batch at a time per actor: a killed actor takes only that batch with it
        compute=ray.data.ActorPoolStrategy(size=cluster.workers, max_tasks_in_flight_per_actor=1),
        num_cpus=cluster.cpus,
        num_gpus=cluster.gpus,
    )
    done = 0
    for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
        ev = EncodeEvent(total=len(items))
        for k, err in zip(out["key"], out["error"]):
            if err:
                ev.errors[int(k)] = str(err)
            else:
                ev.encoded.append(int(k))
        done += len(out["key"])
        ev.done = done
        yield ev

