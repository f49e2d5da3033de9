"""Run planned combinations: one worker function, three ways to execute it.

The work unit is a *chunk*: a list of ``(combo_id, Config)`` pairs. Only configs travel to the
workers (a few KB each), never market data: each worker process keeps one market cache for its
whole life, so the data is read once per worker however many combinations it runs. Every
combination's exception is caught and becomes its row's error, so one failure loses nothing
else; a worker that dies takes only its own chunk's rows with it, and those rows say so.

Executors: :class:`SerialExecutor` (in this process), :class:`ProcessExecutor` (local process
pool, all cores by default) and :class:`DaskExecutor` (an existing ``dask.distributed``
scheduler). They run the same :func:`run_chunk`, and the caller sorts by combination id, so the
table is identical whatever ran it.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from perphedge.config import Config
from perphedge.errors import PerphedgeError
from perphedge.sweep.spec import Status

Task = tuple[str, Config]
DAY_NS = 86_400 * 10**9


@dataclass(frozen=True)
class RunOptions:
    """Where a worker finds what a config refers to by relative path: the config file's location
    (the data root is resolved against it) and the strategy folders (absolute)."""

    config_path: str | None = None
    strategies_dirs: tuple[str, ...] | None = None


@dataclass
class Outcome:
    """What one combination produced: its metrics, or its error; plus a daily equity curve."""

    combo_id: str
    status: Status
    metrics: dict[str, Any] = field(default_factory=dict)
    error_type: str | None = None
    error: str | None = None
    days: np.ndarray | None = None  # int64 days since 1970-01-01 (UTC) of each daily point
    equity_hedged: np.ndarray | None = None  # USD at the last bar close of each day
    equity_unhedged: np.ndarray | None = None
    worker: str = ""  # host:pid of the process that ran it (not part of the results table)
    data_loads: int = 0  # how many times that worker had read market data when it finished


# ---------------------------------------------------------------------------- the worker side


class Runtime:
    """What one worker keeps between combinations: the market cache (data read once), the
    imported strategy functions, and prepared runs by everything their policy context depends
    on (data, capital, basket, hedge ratio, leg weights), so a grid that only varies, say,
    rebalancing or fees reuses one context instead of rebuilding it per combination.

    The steps are the runner's own (:func:`perphedge.runner.prepare`, ``engine_params``,
    ``simulate``, ``compute_metrics``), so the metrics equal ``backtest run``'s; only the run
    record (``Result.meta``), which a sweep row does not use, is skipped.
    """

    def __init__(self, max_prepared: int = 64) -> None:
        from perphedge.runner import MarketCache

        self.market = MarketCache()
        self._policies: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._params: dict[Any, dict[str, Any]] = {}
        self._lock = threading.Lock()  # threaded Dask workers share one runtime
        self._prepared: dict[tuple[Any, ...], Any] = {}
        self._max_prepared = max_prepared
        # (policy, context id) -> context: each policy and data set is checked for look-ahead
        # once (the context is kept so that its id cannot be reused)
        self._lookahead_checked: dict[tuple[Any, int], Any] = {}

    def _prepare(self, config: Config, options: RunOptions) -> Any:
        from dataclasses import replace

        from perphedge.runner import data_spec, prepare

        spec = data_spec(config, options.config_path)
        key = (
            spec,
            config.capital,
            tuple(sorted((config.basket.coins or {}).items())),
            tuple(sorted((config.basket.quantities or {}).items())),
            config.hedge.ratio,
            tuple(leg.weight for leg in config.hedge.legs),
            options.strategies_dirs,
        )
        hit = self._prepared.get(key)
        if hit is not None:
            return replace(hit, config=config)
        prepared = prepare(
            config,
            cache=self.market,
            config_path=options.config_path,
            strategies_dirs=options.strategies_dirs,
        )
        if len(self._prepared) >= self._max_prepared:
            self._prepared.pop(next(iter(self._prepared)))
        self._prepared[key] = prepared
        return prepared

    def _policy(self, name: str, dirs: tuple[Any, ...]) -> Any:
        from perphedge.policy import load_policy

        key = (name, tuple(str(d) for d in dirs))
        if key not in self._policies:
            self._policies[key] = load_policy(name, dirs)
        return self._policies[key]

    def run(self, config: Config, options: RunOptions) -> Any:
        """Simulate one config and return its Result with metrics (no meta)."""
        from perphedge.engine.simulate import simulate
        from perphedge.metrics import compute_metrics
        from perphedge.policy import compute_targets
        from perphedge.runner import engine_params

        with self._lock:
            prepared = self._prepare(config, options)
            fn = self._policy(config.policy.name, prepared.strategies_dirs)
            params = self._params.get(config.policy)
            if params is None:  # plain types, exactly as the runner hands them to the strategy
                params = self._params[config.policy] = config.to_dict()["policy"]["params"]
        targets = compute_targets(fn, prepared.context, params)
        self._check_lookahead(config, prepared, fn, params, targets)
        result = simulate(prepared.market, engine_params(prepared), targets)
        result.metrics = dict(compute_metrics(result, prepared.market.bar_ns))
        return result

    def _check_lookahead(
        self, config: Config, prepared: Any, fn: Any, params: Any, targets: Any
    ) -> None:
        """Refuse a combination whose policy reads later data, as ``backtest run`` does
        (raises LookaheadError, kept in the combination's row); once per policy and data."""
        from perphedge.lookahead import check_no_lookahead

        key = (config.policy, id(prepared.context))
        with self._lock:
            if key in self._lookahead_checked:
                return
        check_no_lookahead(fn, prepared.context, params, targets, policy=config.policy.name)
        with self._lock:
            self._lookahead_checked[key] = prepared.context


class _WorkerState:
    """The runtime of this process, created on first use and kept for the process's life.

    This is process-lifetime state (not a setting): pool workers and Dask workers run many
    chunks and must not reload data for each. The lock keeps threaded Dask workers from
    building it twice.
    """

    lock = threading.Lock()
    runtime: Runtime | None = None

    @classmethod
    def get(cls) -> Runtime:
        with cls.lock:
            if cls.runtime is None:
                cls.runtime = Runtime()
            return cls.runtime


PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_POLL_S = 1.0


def die_with_parent(poll_s: float = PARENT_POLL_S) -> None:
    """Make this process end when the one that started it dies (a killed ``backtest sweep``
    must not leave workers running): the kernel's parent-death signal on Linux, and everywhere
    a daemon thread that polls the parent's pid. (Under forkserver the parent is the fork
    server, which itself ends with the sweep.)"""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still ends the worker
    if parent == 1 or os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _init_worker() -> None:
    """Process-pool initializer: end with the parent, quiet warnings, a headless matplotlib,
    build the cache."""
    die_with_parent()
    os.environ.setdefault("MPLBACKEND", "Agg")
    _WorkerState.get()


def _daily(result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = result.timeseries
    times = np.asarray(ts.index.asi8, dtype=np.int64)
    days = times // DAY_NS
    last = np.empty(days.shape, dtype=bool)
    if days.size:
        last[:-1] = days[1:] != days[:-1]
        last[-1] = True
    hedged = np.asarray(ts["equity_hedged"].to_numpy(dtype=np.float64))[last]
    unhedged = np.asarray(ts["equity_unhedged"].to_numpy(dtype=np.float64))[last]
    return days[last], hedged, unhedged


def run_one(
    combo_id: str, config: Config, runtime: Runtime, options: RunOptions = RunOptions()
) -> Outcome:
    """Run one combination; any exception becomes the outcome's error (type and message)."""
    try:
        result = runtime.run(config, options)
        days, hedged, unhedged = _daily(result)
        metrics = {k: v for k, v in result.metrics.items() if _is_scalar(v)}
    except PerphedgeError as exc:
        return Outcome(combo_id, Status.ERROR, error_type=type(exc).__name__, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug in one combination must not sink the others
        return Outcome(combo_id, Status.ERROR, error_type=type(exc).__name__, error=str(exc))
    return Outcome(combo_id, Status.OK, metrics, None, None, days, hedged, unhedged)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, int | float | str | bool | np.generic)


def run_chunk(
    tasks: Sequence[Task], options: RunOptions = RunOptions(), runtime: Runtime | None = None
) -> list[Outcome]:
    """Run a chunk of combinations with this process's runtime (or the one given)."""
    use = runtime if runtime is not None else _WorkerState.get()
    outcomes = [run_one(combo_id, config, use, options) for combo_id, config in tasks]
    worker = f"{socket.gethostname()}:{os.getpid()}"
    for out in outcomes:
        out.worker, out.data_loads = worker, use.market.loads
    return outcomes


# ---------------------------------------------------------------------------- the caller side

ProgressFn = Callable[[int], None]


class Executor(Protocol):
    """Runs chunks and yields each chunk's outcomes as it finishes (any order).

    ``start`` acquires the workers (forks the pool, connects to Dask) before any progress bar
    or thread exists in this process; ``close`` releases them.
    """

    name: str
    workers: int

    def start(self) -> None: ...

    def chunks_for(self, n_tasks: int) -> int: ...

    def run(
        self, chunks: Sequence[Sequence[Task]], options: RunOptions
    ) -> Iterator[list[Outcome]]: ...

    def close(self) -> None: ...


def chunked(tasks: Sequence[Task], n_chunks: int) -> list[list[Task]]:
    """Split ``tasks`` into at most ``n_chunks`` contiguous chunks of near-equal size."""
    if not tasks:
        return []
    size = math.ceil(len(tasks) / max(1, n_chunks))
    return [list(tasks[i : i + size]) for i in range(0, len(tasks), size)]


def _crashed(chunk: Sequence[Task], exc: BaseException) -> list[Outcome]:
    message = f"the worker running this chunk failed: {type(exc).__name__}: {exc}"
    return [
        Outcome(combo_id, Status.ERROR, error_type="WorkerFailed", error=message)
        for combo_id, _ in chunk
    ]


class SerialExecutor:
    """Runs every chunk in this process, one after another (debugging, tiny sweeps)."""

    name = "serial"
    workers = 1

    def __init__(self, runtime: Runtime | None = None) -> None:
        self._runtime = runtime

    def start(self) -> None:
        if self._runtime is None:
            self._runtime = Runtime()

    def close(self) -> None:
        pass

    def chunks_for(self, n_tasks: int) -> int:
        return n_tasks  # one combination per chunk: the progress bar moves with each

    def run(self, chunks: Sequence[Sequence[Task]], options: RunOptions) -> Iterator[list[Outcome]]:
        runtime = self._runtime if self._runtime is not None else Runtime()
        for chunk in chunks:
            yield run_chunk(chunk, options, runtime)


def _mp_context(method: str | None = None) -> multiprocessing.context.BaseContext:
    """``method`` if given; else fork on Linux while this process has no other thread (the
    cheapest start: workers inherit the imported modules, and with one thread no lock can be
    held across the fork), forkserver on Linux otherwise, and the platform default elsewhere."""
    if method is not None:
        return multiprocessing.get_context(method)
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context(
            "fork" if threading.active_count() == 1 else "forkserver"
        )
    return multiprocessing.get_context()


def _ready() -> bool:
    return True


class ProcessExecutor:
    """A local process pool: ``workers`` processes (default: all cores), each with one runtime."""

    name = "processes"

    def __init__(self, workers: int | None = None, start_method: str | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.start_method = start_method  # None: see _mp_context
        self._pool: ProcessPoolExecutor | None = None

    def chunks_for(self, n_tasks: int) -> int:
        # several chunks per worker balance uneven run times; each still carries many runs,
        # and a chunk is only configs (a few KB each), never market data
        return self.workers * 8

    def start(self) -> None:
        """Start every worker now (one submit per worker forks them all at once)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=_mp_context(self.start_method),
                initializer=_init_worker,
            )
            try:
                for fut in [self._pool.submit(_ready) for _ in range(self.workers)]:
                    fut.result()
            except BrokenProcessPool as exc:
                self.close()
                raise WorkersFailedToStart(self.workers, exc) from exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, chunks: Sequence[Sequence[Task]], options: RunOptions) -> Iterator[list[Outcome]]:
        if not chunks:
            return
        self.start()
        assert self._pool is not None  # set by start()
        pending: dict[Future[list[Outcome]], Sequence[Task]] = {
            self._pool.submit(run_chunk, chunk, options): chunk for chunk in chunks
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: pending[f][0][0]):
                chunk = pending.pop(fut)
                exc = fut.exception()
                yield _crashed(chunk, exc) if exc is not None else fut.result()


class DaskExecutor:
    """Runs chunks on a ``dask.distributed`` cluster: a scheduler address or a ``Client``.

    The workers need perphedge installed and the config's data folder at the same path.
    """

    name = "dask"

    def __init__(self, scheduler: str | Any) -> None:
        self._scheduler = scheduler
        self.workers = 1

    def chunks_for(self, n_tasks: int) -> int:
        return max(1, self.workers) * 4

    def _client(self) -> tuple[Any, bool]:
        from dask.distributed import Client

        if isinstance(self._scheduler, Client):
            return self._scheduler, False
        try:
            client = Client(self._scheduler, timeout="10s")
        except OSError as exc:
            raise DaskConnectError(str(self._scheduler), exc) from None
        return client, True

    def start(self) -> None:
        """Connect now (before the progress bar) and size the chunks to the cluster."""
        if hasattr(self, "_own"):
            return
        client, own = self._client()
        self._scheduler, self._own = client, own
        threads = sum(client.nthreads().values()) if hasattr(client, "nthreads") else 1
        self.workers = max(1, threads)

    def close(self) -> None:
        if getattr(self, "_own", False):
            self._scheduler.close()
        if hasattr(self, "_own"):
            del self._own

    def run(self, chunks: Sequence[Sequence[Task]], options: RunOptions) -> Iterator[list[Outcome]]:
        from dask.distributed import as_completed

        if not chunks:
            return
        self.start()
        client = self._scheduler
        futures = client.map(run_chunk, list(chunks), options=options, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            chunk = chunks[index[fut.key]]
            if fut.status == "error":
                yield _crashed(chunk, fut.exception())
            else:
                yield fut.result()


class WorkersFailedToStart(PerphedgeError):
    """The local worker processes died while starting (environment, not the sweep)."""

    exit_code = 1

    def __init__(self, workers: int, exc: BaseException) -> None:
        super().__init__(
            f"could not start {workers} worker process(es) ({type(exc).__name__}: {exc}); "
            "rerun with --serial to run in this process"
        )


class DaskConnectError(PerphedgeError):
    """The Dask scheduler could not be reached."""

    def __init__(self, address: str, exc: BaseException) -> None:
        super().__init__(f"cannot reach the Dask scheduler at {address}: {exc}")


class DaskMissingError(PerphedgeError):
    """``--scheduler`` was given but dask's distributed scheduler is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "--scheduler needs Dask's distributed scheduler, which is not installed; "
            'install it with: pip install "perphedge[dask]"'
        )


def make_executor(
    *, serial: bool = False, scheduler: str | Any | None = None, workers: int | None = None
) -> SerialExecutor | ProcessExecutor | DaskExecutor:
    """Pick an executor from the command-line style options (Dask wins over serial)."""
    if scheduler is not None:
        import importlib.util

        if importlib.util.find_spec("distributed") is None:  # the optional [dask] extra
            raise DaskMissingError()
        return DaskExecutor(scheduler)
    if serial or workers == 1:
        return SerialExecutor()
    return ProcessExecutor(workers)
