"""From a sweep file to a results table: read, validate, expand, execute, collect.

:func:`run_sweep` is what the CLI and the Python API call. It validates everything before the
first run, hands configs (never data) to an executor in chunks, advances one progress bar as
chunks come back, and returns the table sorted by combination id, so the result does not depend
on the executor or on the order in which workers finished.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from perphedge.config import Config, apply_overrides, config_hash, normalize_overrides, parse_config
from perphedge.errors import ConfigError
from perphedge.sweep.execute import (
    DaskExecutor,
    Outcome,
    ProcessExecutor,
    RunOptions,
    SerialExecutor,
    chunked,
    make_executor,
)
from perphedge.sweep.grid import (
    DEFAULT_MAX_COMBINATIONS,
    Planned,
    base_period,
    check_grid_size,
    plan,
)
from perphedge.sweep.results import build_results
from perphedge.sweep.spec import SweepSource, SweepSpec, parse_sweep_section, read_sweep_source

ExecutorLike = SerialExecutor | ProcessExecutor | DaskExecutor


@dataclass
class SweepRun:
    """A finished sweep: the spec, the base config, the table and each run's daily equity."""

    spec: SweepSpec
    base: Config
    results: pd.DataFrame
    planned: list[Planned]
    outcomes: dict[str, Outcome]
    executor: str
    workers: int
    elapsed_s: float
    run_id: str
    source_path: Path | None = None
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def data_loads(self) -> dict[str, int]:
        """Market data reads per worker (host:pid): once per data set, not per combination."""
        loads: dict[str, int] = {}
        for out in self.outcomes.values():
            if out.worker:
                loads[out.worker] = max(loads.get(out.worker, 0), out.data_loads)
        return dict(sorted(loads.items()))

    def config_of(self, combo_id: str) -> Config | None:
        """The resolved config of one combination (None if it was invalid)."""
        for p in self.planned:
            if p.combination.combo_id == combo_id:
                return p.config
        raise KeyError(combo_id)


@dataclass(frozen=True)
class Loaded:
    """A sweep read and validated, ready to execute."""

    source: SweepSource
    spec: SweepSpec
    base_raw: dict[str, Any]
    base: Config
    planned: list[Planned]


def load_sweep(
    source: str | Path | Mapping[str, Any] | Config,
    *,
    grid: Mapping[str, Any] | None = None,
    periods: Any = None,
    rank_by: str | None = None,
    overrides: Mapping[str, object] | list[str] | None = None,
    max_combinations: int = DEFAULT_MAX_COMBINATIONS,
) -> Loaded:
    """Read a sweep (file, mapping or a plain Config plus ``grid``) and validate all of it.

    Raises :class:`~perphedge.errors.ConfigError` before anything runs if the base config, a grid
    key or value, or a period is invalid.
    """
    if isinstance(source, Config):
        source = source.to_dict()
    src = read_sweep_source(source, require_section=grid is None)
    sets = {**src.extra.get("set", {}), **normalize_overrides(overrides)}
    base_raw = apply_overrides(src.base_raw, sets) if sets else dict(src.base_raw)
    base = parse_config(base_raw)
    spec = parse_sweep_section(
        src.section,
        name=src.name,
        base_period=base_period(base),
        grid=grid,
        periods=periods,
        rank_by=rank_by,
    )
    check_sweep_name(spec.name)
    check_grid_size(spec, max_combinations)  # before anything is expanded
    planned = plan(spec, base_raw, config_path=src.base_path or src.path)
    return Loaded(src, spec, base_raw, base, planned)


def check_sweep_name(name: str) -> None:
    """The sweep's name becomes a folder name: the rules of a run config's ``name``."""
    from perphedge.config import MAX_NAME_LENGTH

    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(
            "name", f"is {len(name):,} characters long; at most {MAX_NAME_LENGTH} (a folder name)"
        )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(
            "name", f"invalid name {name!r}; use letters, digits, '_', '-' or '.' (a folder name)"
        )


def make_run_id(spec: SweepSpec, base: Config, when: datetime | None = None) -> str:
    """UTC time plus 8 hex of the sweep's and the base config's hashes."""
    when = when or datetime.now(timezone.utc)
    text = json.dumps(spec.to_dict(), sort_keys=True, default=str) + config_hash(base)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{when:%Y%m%dT%H%M%SZ}-{digest}"


def run_options(loaded: Loaded) -> RunOptions:
    """Absolute strategy folders and the config path, so workers resolve names the same way."""
    from perphedge.policy import find_strategies_dirs

    path = loaded.source.base_path or loaded.source.path
    dirs = tuple(str(d) for d in find_strategies_dirs(path))
    return RunOptions(config_path=str(Path(path).resolve()) if path else None, strategies_dirs=dirs)


def execute(
    loaded: Loaded,
    executor: ExecutorLike,
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, dict[str, Outcome]]:
    """Run every valid combination of ``loaded`` on ``executor``; returns (table, outcomes)."""
    tasks = [(p.combination.combo_id, p.config) for p in loaded.planned if p.config is not None]
    chunks = chunked(tasks, executor.chunks_for(len(tasks)))
    outcomes: dict[str, Outcome] = {}
    for batch in executor.run(chunks, run_options(loaded)):
        for out in batch:
            outcomes[out.combo_id] = out
        if progress is not None:
            progress(len(batch))
    table = build_results(loaded.spec, loaded.planned, outcomes)
    return table, outcomes


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - only a head start; the real import reports errors
            return


def run_sweep(
    source: str | Path | Mapping[str, Any] | Config,
    *,
    grid: Mapping[str, Any] | None = None,
    periods: Any = None,
    rank_by: str | None = None,
    overrides: Mapping[str, object] | list[str] | None = None,
    executor: ExecutorLike | None = None,
    serial: bool = False,
    scheduler: str | Any | None = None,
    workers: int | None = None,
    progress: bool = False,
    preload: tuple[str, ...] = (),
    max_combinations: int = DEFAULT_MAX_COMBINATIONS,
) -> SweepRun:
    """Validate, expand and execute a sweep; writes nothing (see :func:`write_sweep`).

    ``preload`` names modules to import in a background thread while the workers run (the CLI
    passes the report modules: matplotlib then costs nothing after the last run). The thread
    starts only after the workers exist, so no fork happens during an import.
    """
    loaded = load_sweep(
        source,
        grid=grid,
        periods=periods,
        rank_by=rank_by,
        overrides=overrides,
        max_combinations=max_combinations,
    )
    chosen = executor or make_executor(serial=serial, scheduler=scheduler, workers=workers)
    run_id = make_run_id(loaded.spec, loaded.base)
    n_run = sum(p.config is not None for p in loaded.planned)
    bar = None
    started = time.perf_counter()
    try:
        chosen.start()  # workers forked / cluster connected before the bar's thread exists
        if preload:
            threading.Thread(target=_import_all, args=(preload,), daemon=True).start()
        if progress:
            from tqdm import tqdm

            bar = tqdm(  # disable=None: a bar only on a terminal, never into a log or pipe
                total=n_run, desc=f"sweep {loaded.spec.name}", unit="run", leave=True, disable=None
            )
        table, outcomes = execute(loaded, chosen, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
        chosen.close()
    elapsed = time.perf_counter() - started
    return SweepRun(
        spec=loaded.spec,
        base=loaded.base,
        results=table,
        planned=loaded.planned,
        outcomes=outcomes,
        executor=chosen.name,
        workers=int(getattr(chosen, "workers", 1)),
        elapsed_s=elapsed,
        run_id=run_id,
        source_path=loaded.source.path,
    )
