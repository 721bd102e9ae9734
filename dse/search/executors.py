"""Executors: where a batch of designs is evaluated (in-process, or chunked over Ray tasks).

One small interface, several implementations (as Optuna's samplers/storages): an executor takes
plain numpy columns and returns plain numpy metric columns via
:func:`dse.model.api.evaluate_columns`. Workers never see Optuna objects.

Measured on this kind of machine (``../shared/NOTES-optuna-ray.md``): a Ray task costs about
0.6 ms and ``ray.init`` about 3 s, so Ray pays off only for chunks of 50-100 ms of work or more.
The ``auto`` executor therefore times the in-process evaluation and moves to Ray only when one
batch costs enough to give every worker a few such chunks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence

import numpy as np

from dse.errors import UserError
from dse.model.api import evaluate_columns

#: Work per Ray task below which the task overhead dominates (NOTES-optuna-ray.md: 50-100 ms).
MIN_TASK_S = 0.1
#: Tasks per worker per batch: a few, so a slow or retried task does not stall the batch.
TASKS_PER_WORKER = 3
#: Environment variable that makes a worker exit on the first attempt of its first task
#: (robustness tests: the task must be retried and the study must lose nothing).
FAULT_ENV = "DSE_FAULT_KILL_WORKER_ONCE"

Workloads = Sequence[tuple[str, np.ndarray | None]]


def _slice_columns(columns: Mapping[str, np.ndarray], sl: slice) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[sl] for k, v in columns.items()}


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class LocalExecutor:
    """Evaluates in the driver process (the fastest choice for small batches)."""

    name = "local"

    def evaluate(self, columns, node_nm: int, technology: Mapping[str, float], workloads: Workloads):
        return evaluate_columns(columns, node_nm, technology, workloads)

    def close(self) -> None:
        pass


def _ray_task(columns, node_nm, technology, workloads, fault_marker):
    """Body of a Ray task: plain arrays in, plain arrays out, plus the node that ran it."""
    import ray

    if fault_marker and not os.path.exists(fault_marker):
        with open(fault_marker, "w") as fh:
            fh.write("killed once\n")
        os._exit(1)  # simulate a worker crash; Ray retries the task
    out = evaluate_columns(columns, node_nm, technology, workloads)
    return out, ray.get_runtime_context().get_node_id()


class RayExecutor:
    """Ships chunks of designs to Ray tasks (local Ray by default, or a cluster address)."""

    name = "ray"

    def __init__(self, address: str = "", workers: int = 0, max_retries: int = 3):
        import ray

        self._ray = ray
        if not ray.is_initialized():
            kwargs = dict(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            try:
                if address:
                    ray.init(address=address, **kwargs)
                else:
                    ray.init(address="local", num_cpus=workers or os.cpu_count(), **kwargs)
            except Exception as err:  # Ray raises many types (ConnectionError, RuntimeError...)
                where = address or "a local Ray"
                raise UserError(f"execution.ray_address: cannot start or join {where}: "
                                f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
        self.workers = workers or int(ray.cluster_resources().get("CPU", 1))
        self._remote = ray.remote(max_retries=max_retries, retry_exceptions=False)(_ray_task)
        self.nodes_used: set[str] = set()
        self.tasks_run = 0

    def evaluate(self, columns, node_nm: int, technology, workloads: Workloads, n_chunks: int | None = None):
        n = len(next(iter(columns.values())))
        n_chunks = max(1, min(n, n_chunks or self.workers * TASKS_PER_WORKER))
        bounds = np.linspace(0, n, n_chunks + 1).astype(int)
        fault = os.environ.get(FAULT_ENV, "")
        refs = [self._remote.remote(_slice_columns(columns, slice(a, b)), node_nm, dict(technology),
                                    list(workloads), fault)
                for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        results = self._ray.get(refs)
        self.tasks_run += len(refs)
        self.nodes_used.update(node for _, node in results)
        return _concat([r for r, _ in results])

    def close(self) -> None:
        pass


class AutoExecutor:
    """In-process until a batch is worth Ray's overhead; then Ray with a few chunks per worker."""

    name = "auto"

    def __init__(self, address: str = "", workers: int = 0):
        self._address, self._workers = address, workers
        self._local = LocalExecutor()
        self._ray: RayExecutor | None = None
        self.last_choice = "local"
        self._cost_per_design_s: float | None = None

    def evaluate(self, columns, node_nm, technology, workloads):
        n = len(next(iter(columns.values())))
        workers = self._workers or os.cpu_count() or 1
        if self._cost_per_design_s is not None and workers > 1 or self._address:
            expected = (self._cost_per_design_s or 0.0) * n
            if self._address or expected >= MIN_TASK_S * workers * TASKS_PER_WORKER / 2:
                if self._ray is None:
                    self._ray = RayExecutor(self._address, self._workers)
                self.last_choice = "ray"
                return self._ray.evaluate(columns, node_nm, technology, workloads)
        start = time.perf_counter()
        out = self._local.evaluate(columns, node_nm, technology, workloads)
        self._cost_per_design_s = (time.perf_counter() - start) / max(n, 1)
        self.last_choice = "local"
        return out

    def close(self) -> None:
        pass


def make_executor(kind: str, address: str = "", workers: int = 0):
    """``local``, ``ray`` or ``auto`` (see the module docstring)."""
    if kind == "local":
        return LocalExecutor()
    if kind == "ray":
        return RayExecutor(address, workers)
    if kind == "auto":
        return AutoExecutor(address, workers)
    raise UserError(f"--executor: unknown executor {kind!r} (allowed: auto, local, ray)")
