"""Executors: where a batch of designs is evaluated (in-process, or chunked over Ray tasks).

One small interface (:class:`Executor`), three implementations: an executor takes plain numpy
columns and returns plain numpy metric columns via :func:`dse.model.api.evaluate_columns`.
Workers never see Optuna objects. The study loop and the exhaustive sweep use the same executors,
the same Ray-or-local rule (:func:`worth_ray`) and the same chunking (a batch is split into
:data:`TASKS_PER_WORKER` tasks per worker; sweeps size their batches with :func:`batch_designs`).

Measured on a 2-core machine (docs/architecture.md, "Measured costs"): a Ray task costs about
0.6 ms and ``ray.init`` about 3 s, so Ray pays off only for tasks of 50-100 ms of work or more.
The ``auto`` executor therefore times the in-process evaluation and moves to Ray only when a
batch costs enough to give every worker a few such tasks and the rest of the run is long enough
to repay Ray's start.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from dse.errors import ClusterLost, UserError
from dse.model.api import evaluate_columns
from dse.user_files import MAX_TOKEN_BYTES, read_user_bytes

#: Work per Ray task below which the task overhead dominates (measured: 50-100 ms).
MIN_TASK_S = 0.1
#: Tasks per worker per batch: a few, so a slow or retried task does not stall the batch.
TASKS_PER_WORKER = 3
#: Work per Ray task that sweeps aim for when they choose their batch size (s).
TARGET_TASK_S = 0.25
#: The auto executor starts Ray only if the rest of the run would take longer than this in-process
#: (s): starting Ray costs about 3 s, and its tasks about 1 ms each.
RAY_MIN_REMAINING_S = 15.0
#: Designs per batch evaluated in-process by sweeps (the evaluator runs ~10^5 designs/s on one
#: core; larger batches only cost memory).
LOCAL_BATCH_DESIGNS = 32_768
#: Environment variable that makes a worker exit on the first attempt of its first task
#: (robustness tests: the task must be retried and the study must lose nothing).
FAULT_ENV = "DSE_FAULT_KILL_WORKER_ONCE"

Workloads = Sequence[tuple[str, np.ndarray | None]]


def _slice_columns(columns: Mapping[str, np.ndarray], sl: slice) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[sl] for k, v in columns.items()}


def _slice_workloads(workloads: Workloads, sl: slice, n: int) -> list:
    """(label, batch) pairs for one chunk: per-design batch arrays (D,) are sliced with the
    columns; scalars and None pass as they are."""
    out = []
    for label, batch in workloads:
        if batch is not None and np.ndim(batch) > 0 and len(batch) == n:
            batch = np.asarray(batch)[sl]
        out.append((label, batch))
    return out


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class Executor(Protocol):
    """Where batches of designs are evaluated.

    ``name``: what evaluated the last batch (``local`` or ``ray``). ``workers``: processes a batch
    is spread over. ``nodes_used``: Ray node ids that ran tasks (empty in-process). ``tasks_run``:
    Ray tasks run so far. :meth:`evaluate` takes (D,) columns and (label, batch) pairs and returns
    :func:`dse.model.api.evaluate_columns`' dict of (D,) arrays; :meth:`close` releases resources.
    """

    @property
    def name(self) -> str: ...

    @property
    def workers(self) -> int: ...

    @property
    def nodes_used(self) -> set[str]: ...

    @property
    def tasks_run(self) -> int: ...

    def evaluate(self, columns: Mapping[str, np.ndarray], node_nm: int, technology: Mapping[str, float],
                 workloads: Workloads) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


def worth_ray(cost_per_design_s: float | None, batch: int, workers: int,
              remaining: int | None = None) -> bool:
    """The Ray-or-local rule for one batch of ``batch`` designs (no cluster address given).

    Ray when the measured in-process cost says that the batch gives every worker at least half of
    its :data:`TASKS_PER_WORKER` tasks of :data:`MIN_TASK_S`, and the ``remaining`` designs of the
    run (None: unknown) would take longer than :data:`RAY_MIN_REMAINING_S` in-process. Never with
    one worker or before a cost is measured.
    """
    if cost_per_design_s is None or workers < 2:
        return False
    if cost_per_design_s * batch < MIN_TASK_S * workers * TASKS_PER_WORKER / 2:
        return False
    return remaining is None or cost_per_design_s * remaining >= RAY_MIN_REMAINING_S


def batch_designs(executor: Executor, cost_per_design_s: float | None) -> int:
    """Designs per batch for a sweep: :data:`LOCAL_BATCH_DESIGNS` in-process; on Ray, enough for
    :data:`TASKS_PER_WORKER` tasks per worker of about :data:`TARGET_TASK_S` each (at least a
    quarter of the in-process batch per task)."""
    if executor.name != "ray" or not cost_per_design_s:
        return LOCAL_BATCH_DESIGNS
    per_task = max(LOCAL_BATCH_DESIGNS // 4, int(TARGET_TASK_S / cost_per_design_s))
    return per_task * max(1, executor.workers) * TASKS_PER_WORKER


class LocalExecutor:
    """Evaluates in the driver process (the fastest choice for small batches)."""

    name = "local"
    workers = 1

    def __init__(self) -> None:
        self.nodes_used: set[str] = set()
        self.tasks_run = 0

    def evaluate(self, columns, node_nm: int, technology: Mapping[str, float], workloads: Workloads):
        return evaluate_columns(columns, node_nm, technology, workloads)

    def close(self) -> None:
        pass


#: glibc ``mallopt`` parameters and the values set in Ray workers (see :func:`_tune_malloc`).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's maximum for the mmap threshold on 64-bit
_TRIM_THRESHOLD_BYTES = 1 << 30
_malloc_tuned = False


def _tune_malloc() -> None:
    """Keep the evaluator's multi-MB temporaries in the heap of a Ray worker process.

    Measured: in a Ray worker, glibc served every (D, L) temporary of a chunk with a fresh mmap and
    returned it at free (about 60,000 page faults per chunk of 8,192 designs on YOLOv3), so a task
    took twice the CPU time of the same evaluation in the driver. A fixed 32 MB mmap threshold and
    a 1 GB trim threshold make the worker reuse its heap (the RSS stays at one chunk's peak).
    Once per process; a no-op off glibc.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
    except (OSError, AttributeError):  # musl or another libc: leave the defaults
        pass


def _ray_task(columns, node_nm, technology, workloads, fault_marker):
    """Body of a Ray task: plain arrays in, plain arrays out, plus the node that ran it."""
    import ray

    _tune_malloc()

    if fault_marker and not os.path.exists(fault_marker):
        with open(fault_marker, "w") as fh:
            fh.write("killed once\n")
        os._exit(1)  # simulate a worker crash; Ray retries the task
    out = evaluate_columns(columns, node_nm, technology, workloads)
    return out, ray.get_runtime_context().get_node_id()


# --- attaching to a cluster ---------------------------------------------------------------------

#: Seconds the driver waits for a cluster's GCS port before giving up (instead of Ray's 20 s).
PROBE_TIMEOUT_S = 3.0
#: Ray's token authentication variables (Ray 2.60 turns token auth on by default).
AUTH_MODE_ENV, AUTH_TOKEN_ENV, AUTH_TOKEN_PATH_ENV = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"
_AUTH_HINT = ("set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the cluster's "
              "token (`ray get-auth-token` on the head node)")


def _flag(address: str) -> str:
    return f"--ray-address {address}"


def token_source() -> str:
    """Where Ray would take its auth token from (its own lookup order): ``RAY_AUTH_TOKEN``, the
    file ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``; "" when none holds one."""
    if os.environ.get(AUTH_TOKEN_ENV, "").strip():
        return AUTH_TOKEN_ENV
    custom = os.environ.get(AUTH_TOKEN_PATH_ENV)
    path = custom or os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    if not os.path.exists(path):
        return ""
    where = f"{AUTH_TOKEN_PATH_ENV}={path}" if custom else path
    # A FIFO or /dev/zero here must not hang or exhaust memory: one line instead.
    if read_user_bytes(path, what="Ray token file", max_bytes=MAX_TOKEN_BYTES, where=where).strip():
        return where
    return ""


def token_available() -> bool:
    return bool(token_source())


def resolve_ray_address(address: str) -> str:
    """``auto`` (``RAY_ADDRESS`` or the cluster that ``ray start`` started on this machine) or
    ``HOST:PORT`` -> ``HOST:PORT`` of the cluster's GCS; UserError naming ``--ray-address``."""
    address = address.strip()
    if address.startswith("ray://"):
        return address
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address_or_die

            return canonicalize_bootstrap_address_or_die("auto")
        except (ConnectionError, ValueError) as err:
            raise UserError(f"{_flag(address)}: no running Ray cluster found on this machine "
                            f"({str(err).splitlines()[0].rstrip('.')}); pass HOST:PORT of the head node"
                            ) from None
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"{_flag(address)}: expected auto or HOST:PORT of the Ray head's GCS "
                        "(e.g. 10.0.0.1:6379)")
    try:  # localhost -> the node's IP, as ray.init does
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address(f"{host}:{int(port)}") or address
    except Exception:  # noqa: BLE001 - unresolvable host: the TCP probe says so in one line
        return f"{host.strip('[]')}:{int(port)}"


def probe_ray_cluster(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """Check in seconds that a Ray cluster answers at ``address`` and accepts our token.

    ``ray.init`` on an unreachable address or with a missing/wrong token only fails after about
    20 s (Ray 2.60). This probe: (1) resolves ``auto``; (2) opens a TCP connection to the GCS
    port with a short timeout; (3) applies Ray's token rules (``RAY_AUTH_MODE=token`` needs a
    token; with the mode unset and a token at hand, token mode is switched on, as Ray does for
    ``auto``, since Ray 2.60 clusters require it by default); (4) sends one GCS request with the
    token and a wrong cluster id: an authenticated request is refused for the cluster id, an
    unauthenticated one for the token, in milliseconds. Returns the resolved ``HOST:PORT``.
    Raises UserError (one line, naming ``--ray-address``).
    """
    import socket

    resolved = resolve_ray_address(address)
    flag = _flag(address if address == resolved else f"{address} ({resolved})")
    target = resolved.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except socket.timeout:
        raise UserError(f"{flag}: no answer from {target} within {timeout_s:g} s "
                        "(is the Ray head running and the port open?)") from None
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UserError(f"{flag}: cannot reach {target} ({reason}); start the head with "
                        "`ray start --head --port=PORT` or check the address") from None
    if resolved.startswith("ray://"):
        return resolved  # Ray Client: no GCS probe
    mode = os.environ.get(AUTH_MODE_ENV, "").strip().lower()
    if not mode and token_available():
        os.environ[AUTH_MODE_ENV] = mode = "token"
        try:  # Ray reads its config once: refresh it as ray's own auto-enable does
            from ray._raylet import Config  # type: ignore[attr-defined]  # private, compiled

            Config.initialize("")
        except Exception:  # pragma: no cover - private API moved: ray.init still sees the env
            pass
    if mode == "token" and not token_available():
        raise UserError(f"{flag}: RAY_AUTH_MODE=token but no token: {_AUTH_HINT}")
    outcome = _gcs_probe(resolved, timeout_s)
    if outcome is None or "WrongClusterID" in outcome:
        return resolved  # authenticated (refused only for the random cluster id), or no probe API
    if "InvalidAuthToken" in outcome or "Unauthenticated" in outcome:
        why = (f"the cluster rejected the token from {token_source()}" if mode == "token"
               else "the cluster requires a token")
        raise UserError(f"{flag}: {why}: {_AUTH_HINT}")
    raise UserError(f"{flag}: {target} accepts connections but does not answer as a Ray GCS "
                    f"within {timeout_s:g} s ({outcome.splitlines()[0][:120]}); the address is the "
                    "head's `ray start --head --port=PORT`")


def _gcs_probe(address: str, timeout_s: float) -> str | None:
    """One GCS request with a random cluster id, bounded by ``timeout_s`` (the client's own
    connect wait is 10 s, so it runs in a daemon thread). Returns the error text ("WrongClusterID"
    when authenticated), "timeout", or None when the probe API is not there."""
    try:
        import ray
        from ray._raylet import GcsClient  # type: ignore[attr-defined]  # private, compiled
    except ImportError:  # pragma: no cover
        return None

    def run() -> str | None:
        try:
            client = GcsClient(address=address, cluster_id=ray.ClusterID.from_random().hex())
            client.internal_kv_get(b"dse-probe", None, timeout=timeout_s)
            return "WrongClusterID (not checked)"
        except TypeError:  # pragma: no cover - private API changed: leave it to ray.init
            return None
        except Exception as err:
            return f"{type(err).__name__}: {err}"

    answer = _in_daemon_thread(run, timeout_s, "dse-ray-probe")
    return "timeout" if answer is _NO_ANSWER else answer


#: What :func:`_in_daemon_thread` returns when the call did not finish in time or raised.
_NO_ANSWER: Any = object()


def _in_daemon_thread(call, timeout_s: float, name: str):
    """``call()`` in a daemon thread, waited for at most ``timeout_s``: its value, or
    :data:`_NO_ANSWER`. Ray's client calls to a head that accepts connections without answering
    block for up to a minute; the thread is left behind and does not hold up the exit."""
    box: list = []

    def run() -> None:
        try:
            box.append(call())
        except Exception:  # noqa: BLE001 - an error is no answer; the caller checks the head
            pass

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return box[0] if box else _NO_ANSWER


def _current_gcs_address() -> str:
    try:
        import ray

        return ray.get_runtime_context().gcs_address or ""
    except Exception:  # pragma: no cover
        return ""


#: While waiting for a cluster's tasks, how often (s) the head is checked, and its TCP timeout.
HEAD_CHECK_S = 2.0
#: How often (s) the driver asks a cluster for its CPU count (autoscaling clusters grow).
CLUSTER_REFRESH_S = 5.0


class RayExecutor:
    """Ships chunks of designs to Ray tasks (local Ray by default, or a cluster address).

    ``address`` (``auto`` or ``HOST:PORT``) attaches to an existing cluster after a fast probe
    (:func:`probe_ray_cluster`); the chunk count then follows the cluster's CPUs, read at every
    batch (autoscaling clusters grow). Without an address a local Ray with ``workers`` CPUs
    (default: all) starts, unless Ray is already initialized in this process. Chunks use the
    ``SPREAD`` strategy so that they go to every node, not only the driver's.
    ``nodes_used`` collects the Ray node ids that ran chunks; ``tasks_run`` counts them.
    """

    name = "ray"

    def __init__(self, address: str = "", workers: int = 0, max_retries: int = 3):
        import ray

        self._ray = ray
        self.address = address
        resolved = probe_ray_cluster(address) if address else ""
        if ray.is_initialized() and resolved and _current_gcs_address() not in (resolved, ""):
            ray.shutdown()  # attached elsewhere (e.g. a local Ray): a driver uses one cluster
        if not ray.is_initialized():
            kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            try:
                if resolved:
                    ray.init(address=resolved, **kwargs)
                else:
                    ray.init(address="local", num_cpus=workers or os.cpu_count(), **kwargs)
            except Exception as err:  # Ray raises many types (ConnectionError, RuntimeError...)
                where = _flag(address) if address else "execution.executor: a local Ray"
                first = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise UserError(f"{where}: cannot start or join Ray ({first})") from None
        self._gcs = resolved  # "host:port" of the cluster's head, "" for a local Ray
        self._workers = 0 if resolved else workers
        self._cpus_known = 0
        self._cpus_asked_at = 0.0
        self.workers = self._cluster_workers()
        self._remote = ray.remote(max_retries=max_retries, retry_exceptions=False,
                                  scheduling_strategy="SPREAD")(_ray_task)
        self.nodes_used: set[str] = set()
        self.tasks_run = 0

    def _cluster_workers(self) -> int:
        """CPUs of the cluster (autoscaling clusters grow), asked of the head at most every
        ``CLUSTER_REFRESH_S``. The question runs in a daemon thread bounded by ``HEAD_CHECK_S``:
        a head that is going down can still accept connections while its answers never come, and
        Ray then blocks the caller for a minute before it kills the process. Without an answer
        the last known count stands and the head check decides."""
        if self._workers:
            return self._workers
        now = time.monotonic()
        if self._cpus_known and now - self._cpus_asked_at < CLUSTER_REFRESH_S:
            return self._cpus_known
        self._cpus_asked_at = now
        cpus = _in_daemon_thread(lambda: max(1, int(self._ray.cluster_resources().get("CPU", 1))),
                                 HEAD_CHECK_S, "dse-ray-cpus")
        if cpus is _NO_ANSWER:
            self._check_head(ask_gcs=True)
        else:
            self._cpus_known = cpus
        return self._cpus_known or 1

    def evaluate(self, columns, node_nm: int, technology, workloads: Workloads, n_chunks: int | None = None):
        """Evaluate (D,) columns in ``n_chunks`` tasks (default: a few per cluster CPU)."""
        n = len(next(iter(columns.values())))
        self._check_head()  # before any call that needs the head (Ray waits a minute for it)
        if n_chunks is None:
            self.workers = self._cluster_workers()
            n_chunks = self.workers * TASKS_PER_WORKER
        n_chunks = max(1, min(n, n_chunks))
        bounds = np.linspace(0, n, n_chunks + 1).astype(int)
        fault = os.environ.get(FAULT_ENV, "")
        refs = [self._remote.remote(_slice_columns(columns, slice(a, b)), node_nm, dict(technology),
                                    _slice_workloads(workloads, slice(a, b), n), fault)
                for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        results = self._gather(refs)
        self.tasks_run += len(refs)
        self.nodes_used.update(node for _, node in results)
        return _concat([r for r, _ in results])

    def _head_answers(self) -> bool:
        host, _, port = self._gcs.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=HEAD_CHECK_S):
                return True
        except OSError:
            return False

    def _check_head(self, ask_gcs: bool = False) -> None:
        """One UserError line when the cluster's head no longer accepts connections or, with
        ``ask_gcs``, accepts them without answering one GCS request within ``PROBE_TIMEOUT_S``
        (a head that is shutting down or frozen)."""
        if self._gcs and (not self._head_answers()
                          or (ask_gcs and _gcs_probe(self._gcs, PROBE_TIMEOUT_S) == "timeout")):
            raise ClusterLost(f"{_flag(self.address)}: the Ray cluster at {self._gcs} stopped answering "
                            "(head node down?); finished trials are kept in the storage: rerun to resume")

    def _gather(self, refs: list) -> list:
        """``ray.get`` that notices a lost cluster head within seconds: Ray itself waits about a
        minute for the head to come back before failing. Finished trials are in the storage."""
        try:
            if self._gcs:
                pending = list(refs)
                asked = time.monotonic()
                while pending:
                    _, pending = self._ray.wait(pending, num_returns=len(pending), timeout=HEAD_CHECK_S)
                    if pending:  # a head can accept connections and never answer: ask it now and then
                        ask = time.monotonic() - asked >= CLUSTER_REFRESH_S
                        asked = time.monotonic() if ask else asked
                        self._check_head(ask_gcs=ask)
            return self._ray.get(refs)
        except UserError:
            raise
        except self._ray.exceptions.RayError as err:
            self._check_head()
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"execution: a Ray evaluation task failed ({first[:200]}); finished trials "
                            "are kept in the storage: rerun to resume") from None

    def close(self) -> None:
        pass


class AutoExecutor:
    """In-process until a batch is worth Ray's overhead (:func:`worth_ray`); then Ray with a few
    tasks per worker. ``total_designs``: how many designs the run will evaluate (None: unknown),
    so that a short run never pays for starting Ray. ``name`` is what ran the last batch."""

    def __init__(self, address: str = "", workers: int = 0, total_designs: int | None = None):
        self._address, self._workers = address, workers
        self._local = LocalExecutor()
        self._ray: RayExecutor | None = None
        self.name = "local"
        self._total = total_designs
        self._evaluated = 0
        self._cost_per_design_s: float | None = None
        if address:  # fail fast on a bad address, before any trial is asked
            probe_ray_cluster(address)

    @property
    def workers(self) -> int:
        return self._ray.workers if self._ray is not None else 1

    def _worth_ray(self, n: int) -> bool:
        """Ray when a cluster address is given; else :func:`worth_ray` (the first batch, with no
        measured cost yet, runs in-process; once Ray runs, its start is paid: the rest of the run
        no longer matters)."""
        if self._address:
            return True
        remaining = None if self._total is None or self._ray is not None else max(self._total - self._evaluated, n)
        return worth_ray(self._cost_per_design_s, n, self._workers or os.cpu_count() or 1, remaining)

    @property
    def nodes_used(self) -> set[str]:
        """Ray node ids that ran chunks (empty while every batch ran in-process)."""
        return set(self._ray.nodes_used) if self._ray is not None else set()

    @property
    def tasks_run(self) -> int:
        return self._ray.tasks_run if self._ray is not None else 0

    def evaluate(self, columns, node_nm, technology, workloads):
        n = len(next(iter(columns.values())))
        if self._worth_ray(n):
            if self._ray is None:
                self._ray = RayExecutor(self._address, self._workers)
            self.name = "ray"
            out = self._ray.evaluate(columns, node_nm, technology, workloads)
        else:
            start = time.perf_counter()
            out = self._local.evaluate(columns, node_nm, technology, workloads)
            self._cost_per_design_s = (time.perf_counter() - start) / max(n, 1)
            self.name = "local"
        self._evaluated += n
        return out

    def close(self) -> None:
        pass


def make_executor(kind: str, address: str = "", workers: int = 0,
                  total_designs: int | None = None) -> Executor:
    """``local``, ``ray`` or ``auto`` (see the module docstring); ``total_designs``: designs the
    run will evaluate, for the auto rule."""
    if kind == "local":
        return LocalExecutor()
    if kind == "ray":
        return RayExecutor(address, workers)
    if kind == "auto":
        return AutoExecutor(address, workers, total_designs)
    raise UserError(f"--executor: unknown executor {kind!r} (allowed: auto, local, ray)")
