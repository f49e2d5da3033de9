"""The run-time look-ahead check: a policy's past decisions must not change with later data.

A policy's target for bar ``t`` is decided at the close of bar ``t`` and may use rows
``0..t`` of the context only. Before simulating, a run recomputes the targets on the context
cut after a few bars spread over the run (:func:`cut_points`) and compares them with the
targets computed on all the data: any target of the cut run that differs means the policy
peeked at bars it could not have seen, and the run is refused (:class:`LookaheadError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from perphedge.errors import StrategyError
from perphedge.policy import PolicyContext, TargetsFn, validate_params

DEFAULT_CUTS = 4
# targets equal to this (relative, with an absolute floor) count as unchanged: a cut must not
# flag float noise, and a peek moves a target by far more
REL_TOL = 1e-9
ABS_TOL = 1e-12


class LookaheadError(StrategyError):
    """A policy's past targets change when later bars are added: it reads the future."""


@dataclass(frozen=True)
class Changed:
    """The first target that differs between the full run and the run cut after ``cut`` bars."""

    cut: int  # bars kept
    row: int
    leg: int
    full: float  # target with all the data
    cut_value: float  # target with only the first ``cut`` bars


def cut_points(n_bars: int, count: int = DEFAULT_CUTS) -> list[int]:
    """``count`` bar counts spread evenly inside the run (``n / (count + 1)``, ...), each at
    least 2 and below ``n_bars``; fewer for very short runs."""
    cuts = {int(round(n_bars * i / (count + 1))) for i in range(1, count + 1)}
    return sorted(c for c in cuts if 2 <= c < n_bars)


def _as_matrix(raw: object, ctx: PolicyContext) -> np.ndarray:
    arr = np.asarray(raw, dtype=np.float64)
    if arr.shape == (ctx.n_bars,):
        return arr[:, None] * ctx.leg_weights[None, :]
    return arr


def first_change(full: np.ndarray, cut: np.ndarray, n: int) -> Changed | None:
    """The first (row, leg) where the cut run's targets differ from ``full[:n]`` (NaN equals
    NaN), or ``None``."""
    a = full[:n]
    if cut.shape != a.shape:
        return Changed(n, 0, 0, float("nan"), float("nan"))
    both_nan = np.isnan(a) & np.isnan(cut)
    close = np.isclose(a, cut, rtol=REL_TOL, atol=ABS_TOL) | both_nan
    if close.all():
        return None
    row, leg = np.argwhere(~close)[0]
    return Changed(n, int(row), int(leg), float(a[row, leg]), float(cut[row, leg]))


def _fmt(value: float) -> str:
    return "NaN (keep)" if np.isnan(value) else f"{value:.6g}"


def _ts(value: pd.Timestamp) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def check_no_lookahead(
    fn: TargetsFn,
    ctx: PolicyContext,
    params: Mapping[str, object] | None,
    targets: np.ndarray,
    *,
    policy: str,
    cuts: Sequence[int] | None = None,
) -> list[int]:
    """Recompute ``fn``'s targets on ``ctx`` cut at ``cuts`` (default :func:`cut_points`) and
    raise :class:`LookaheadError` at the first cut whose targets differ from ``targets`` (the
    full run's). Returns the cuts checked."""
    kwargs = validate_params(fn, params or {})
    checked = list(cut_points(ctx.n_bars) if cuts is None else cuts)
    for n in checked:
        short = ctx.truncate(n)
        try:
            cut = _as_matrix(fn(short, **kwargs), short)
        except Exception as exc:  # a user's policy failing on less data is theirs to fix
            raise StrategyError(
                "policy.name",
                f"policy {policy!r} failed on the data cut after {_ts(ctx.close_times[n - 1])} "
                f"(look-ahead check): {type(exc).__name__}: {exc}",
            ) from None
        change = first_change(targets, cut, n)
        if change is None:
            continue
        if cut.shape != targets[:n].shape:
            detail = f"it returned shape {cut.shape} for {n} bars"
        else:
            detail = (
                f"the first target that changed is at the bar opening "
                f"{_ts(ctx.index[change.row])} (leg {ctx.legs[change.leg]}): "
                f"{_fmt(change.full)} with all the data, {_fmt(change.cut_value)} without the "
                "later bars"
            )
        raise LookaheadError(
            "policy.name",
            f"policy {policy!r} looks ahead: with the data cut after "
            f"{_ts(ctx.close_times[n - 1])} ({n} of {ctx.n_bars} bars) its earlier decisions "
            f"change; {detail}. A target may use only bars up to its own; fix the policy "
            "(or skip this check with --no-lookahead-check)",
        )
    return checked
