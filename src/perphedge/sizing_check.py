"""Warnings about hedges that whole contracts cannot express, computed from a run's result.

Inverse contracts are whole numbers of ``S`` USD. A small capital cannot buy one contract (the
run silently stays unhedged), and a capital of a few contracts rounds the hedge far from its
target. Both change what the numbers mean, so the run says so (docs/config.md, "Ranges").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

ROUNDING_WARN_FRACTION = 0.03  # mean |target - actual| / target at the leg's trades


def sizing_warnings(timeseries: pd.DataFrame, labels: Sequence[str]) -> list[str]:
    """One warning per leg that never held a contract although its target was above zero, or
    whose actual hedge ratio missed the target by more than 3 % on average where it traded."""
    out: list[str] = []
    for j, label in enumerate(labels):
        cols = (f"contracts_{j}", f"target_ratio_{j}", f"actual_ratio_{j}")
        if any(c not in timeseries.columns for c in cols):
            continue
        contracts = timeseries[cols[0]].to_numpy(dtype=float)
        target = timeseries[cols[1]].to_numpy(dtype=float)
        actual = np.abs(timeseries[cols[2]].to_numpy(dtype=float))
        wanted = np.isfinite(target) & (target > 0)
        if not wanted.any():
            continue
        if not np.any(contracts != 0):
            out.append(
                f"{label}: the hedge could not be sized (the capital is below one contract); "
                "the run is unhedged"
            )
            continue
        changed = np.r_[contracts[0] != 0, np.diff(contracts) != 0] & wanted & np.isfinite(actual)
        if not changed.any():
            continue
        miss = float(np.mean(np.abs(target[changed] - actual[changed]) / target[changed]))
        if miss > ROUNDING_WARN_FRACTION:
            out.append(
                f"{label}: rounding to whole contracts left the hedge {miss:.1%} from its target "
                "on average at its trades; a larger capital hedges more precisely"
            )
    return out
