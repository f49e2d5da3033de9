"""Which policy files the policy tests check: every file, whatever its name, in the
repository's ``strategies/``, the built-in policies and the ``backtest init`` template.

Nothing here lists policies by name: a new file in ``strategies/`` is tested as it is. ``SHORT``
only gives some policies shorter windows so that causality is exercised on ~100 bars; any other
file runs with its defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from perphedge.policy import PolicyContext, compute_targets, load_policy, strategy_files
from perphedge.project import Shipped, shipped_dir

REPO = Path(__file__).resolve().parents[2]

SHORT: dict[str, list[dict]] = {
    "rolling_beta": [
        {"lookback": "4h", "sample": "bar"},
        {"lookback": "2d", "sample": "1d", "min_ratio": 0.2, "max_ratio": 1.5},
    ],
    "funding_aware": [
        {"window": "8h", "threshold": 0.0},
        {"window": "1d", "threshold": -0.5, "reduced_ratio": 0.3},
    ],
    "scheduled": [
        {"windows": [["2024-03-01 10:00", "2024-03-02 05:00"], ["2024-03-03", "2024-03-04"]]}
    ],
    "my_policy": [{"window": "4h", "calm_vol": 0.02}, {"window": "1d", "calm_vol": 0.015}],
}


def policy_folders() -> list[Path]:
    """The repository's strategies/, the built-ins and the init template's strategies/."""
    folders = [
        REPO / "strategies",
        shipped_dir(Shipped.STRATEGIES),
        shipped_dir(Shipped.PROJECT_TEMPLATE) / "strategies",
    ]
    out: list[Path] = []
    for f in folders:
        if f.resolve() not in out:
            out.append(f.resolve())
    return out


def policy_files(folders: Sequence[Path] | None = None) -> list[Path]:
    """Every strategy file in ``folders`` (default :func:`policy_folders`), each once."""
    files: list[Path] = []
    for folder in folders if folders is not None else policy_folders():
        files += [p for p in strategy_files([folder]).values() if p not in files]
    return files


def cases(files: Sequence[Path] | None = None) -> list[tuple[Path, dict]]:
    """``(file, params)`` pairs: each file with its short-window parameters or its defaults."""
    return [
        (f, p)
        for f in policy_files()
        if files is None or f in files
        for p in SHORT.get(f.stem, [{}])
    ]


def case_id(case: tuple[Path, dict]) -> str:
    path, params = case
    return f"{path.parent.name}/{path.stem}-{len(params)}"


def load(path: Path):
    """The ``targets`` function of one file."""
    return load_policy(path.stem, [path.parent])


def first_changed_cut(fn, params: dict, ctx: PolicyContext, cuts: Sequence[int]) -> int | None:
    """The first cut ``t`` at which targets computed on rows ``0..t-1`` differ from rows
    ``0..t-1`` of the full run (``None``: the policy never looked ahead at these cuts)."""
    full = compute_targets(fn, ctx, params)
    for t in cuts:
        part = compute_targets(fn, ctx.truncate(t), params)
        if not np.array_equal(part, full[:t], equal_nan=True):
            return t
    return None
