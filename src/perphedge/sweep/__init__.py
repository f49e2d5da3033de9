"""Research sweeps: a grid over any config keys (and periods), run in parallel, ranked and charted.

Python API::

    import perphedge
    table = perphedge.sweep("configs/eth_l1_sweep.yaml")             # the file's own grid
    table = perphedge.sweep("configs/eth_l1_basket.yaml",
                            grid={"hedge.ratio": [0.5, 1.0], "rebalance.every": ["8h", "1d"]})

``perphedge.sweep`` is this package, and calling it calls :func:`sweep` (a package and a
function cannot otherwise share the name ``perphedge.sweep``).

Parts: :mod:`.spec` (the ``sweep:`` section), :mod:`.grid` (combinations, validation),
:mod:`.execute` (serial, process pool, Dask), :mod:`.pipeline` (run a sweep),
:mod:`.results` (table, ranking), :mod:`.charts` and :mod:`.report` (files, report.html).
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from perphedge.config import Config
from perphedge.sweep.grid import DEFAULT_MAX_COMBINATIONS
from perphedge.sweep.pipeline import SweepRun, load_sweep, run_sweep
from perphedge.sweep.spec import SweepSpec

__all__ = ["SweepRun", "SweepSpec", "load_sweep", "run_sweep", "sweep"]


def sweep(
    config: str | os.PathLike[str] | Mapping[str, Any] | Config,
    grid: Mapping[str, Any] | None = None,
    *,
    periods: Any = None,
    rank_by: str | None = None,
    overrides: Mapping[str, object] | list[str] | None = None,
    serial: bool = False,
    scheduler: str | Any | None = None,
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = False,
    max_combinations: int = DEFAULT_MAX_COMBINATIONS,
) -> pd.DataFrame:
    """Run a sweep and return its results table (one row per combination, sorted by id).

    ``config`` is a sweep file, a run config with a ``sweep:`` section, or any run config (a
    path, mapping or :class:`~perphedge.config.Config`) together with ``grid``
    (``{"hedge.ratio": [0, 0.5, 1]}``), which replaces the file's grid. ``periods`` is a list of
    ``[start, end]`` or ``{"rolling": {"length": "365d", "step": "90d"}}``. Runs on a local
    process pool unless ``serial`` or ``scheduler`` (a ``tcp://host:port`` address or a
    ``dask.distributed.Client``). With ``out`` the full report is written under
    ``out/<name>/<run-id>/`` and its path is in ``table.attrs["run_dir"]``. A grid of more
    than ``max_combinations`` (10,000) combinations is refused before it is expanded.
    """
    run = run_sweep(
        config if not isinstance(config, os.PathLike) else Path(config),
        grid=grid,
        periods=periods,
        rank_by=rank_by,
        overrides=overrides,
        serial=serial,
        scheduler=scheduler,
        workers=workers,
        progress=progress,
        max_combinations=max_combinations,
    )
    table = run.results
    if out is not None:
        from perphedge.sweep.report import write_sweep

        table.attrs["run_dir"] = str(write_sweep(run, out))
    return table


class _CallableModule(types.ModuleType):
    """Lets ``perphedge.sweep(...)`` call :func:`sweep` although it names this package."""

    def __call__(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
