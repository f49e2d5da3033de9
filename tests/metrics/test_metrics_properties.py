"""Metamorphic and property tests of the metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perphedge.engine.types import Result
from perphedge.metrics import (
    compute_metrics,
    daily_returns,
    hedge_effectiveness,
    sharpe,
    side_metrics,
    sortino,
    volatility,
)

H = 3_600 * 10**9

SCALE_FREE = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_days",
)


@st.composite
def curves(draw) -> pd.Series:
    n = draw(st.integers(min_value=30, max_value=200))
    bar_h = draw(st.sampled_from([1, 4, 8, 24]))
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed).normal(0.0, 0.02, n)
    start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=draw(st.integers(0, 23)))
    index = pd.DatetimeIndex(start + pd.to_timedelta(np.arange(n) * bar_h, unit="h"))
    return pd.Series(1000 * np.exp(np.cumsum(r)), index=index, name=str(bar_h))


def bar_ns(curve: pd.Series) -> int:
    return int(curve.name) * H


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(curve=curves(), k=st.floats(min_value=1e-3, max_value=1e6))
def test_scaling_equity_leaves_return_metrics_unchanged(curve, k):
    a = side_metrics(curve, bar_ns(curve), "x")
    b = side_metrics(curve * k, bar_ns(curve), "x")
    for name in SCALE_FREE:
        assert same(a[f"x_{name}"], b[f"x_{name}"]), name
    assert b["x_final_equity"] == pytest.approx(a["x_final_equity"] * k)


@settings(max_examples=50, deadline=None)
@given(curve=curves())
def test_daily_returns_compound_to_total_return(curve):
    r = daily_returns(curve, bar_ns(curve))
    total = side_metrics(curve, bar_ns(curve), "x")["x_total_return"]
    assert np.prod(1 + r) - 1 == pytest.approx(total, rel=1e-9, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(curve=curves())
def test_drawdown_bounds(curve):
    m = side_metrics(curve, bar_ns(curve), "x")
    assert -1.0 <= m["x_max_drawdown"] <= 0.0
    span_days = (curve.index[-1] - curve.index[0]) / pd.Timedelta(days=1)
    assert 0.0 <= m["x_max_drawdown_days"] <= span_days


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_permuting_daily_returns_keeps_vol_sharpe_sortino(seed):
    rng = np.random.default_rng(seed)
    r = rng.normal(0.001, 0.02, 60)
    p = rng.permutation(r)
    assert volatility(p) == pytest.approx(volatility(r))
    assert sharpe(p) == pytest.approx(sharpe(r))
    assert sortino(p) == pytest.approx(sortino(r))


def test_constant_curve_has_no_vol_and_no_drawdown():
    curve = pd.Series(
        500.0, index=pd.date_range("2024-01-01", periods=72, freq="h", tz="UTC"), name="1"
    )
    m = side_metrics(curve, H, "x")
    assert m["x_volatility"] == 0.0
    assert m["x_max_drawdown"] == 0.0 and m["x_max_drawdown_days"] == 0.0
    assert m["x_total_return"] == 0.0 and m["x_cagr"] == 0.0
    assert math.isnan(m["x_sharpe"]) and math.isnan(m["x_sortino"])


@settings(max_examples=30, deadline=None)
@given(curve=curves())
def test_hedge_effectiveness_identical_is_zero_constant_is_one(curve):
    r = daily_returns(curve, bar_ns(curve))
    if np.var(r) == 0:
        return
    assert hedge_effectiveness(r, r) == 0.0
    assert hedge_effectiveness(np.zeros_like(r), r) == 1.0


def _result(hedged: pd.Series, unhedged: pd.Series) -> Result:
    ts = pd.DataFrame({"equity_hedged": hedged.to_numpy(), "equity_unhedged": unhedged.to_numpy()})
    ts.index = hedged.index
    return Result(ts, pd.DataFrame(), pd.DataFrame(), {"spot": 0.0, "total": 0.0})


def test_compute_metrics_effectiveness_of_flat_hedged_curve_is_one():
    index = pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC")
    unhedged = pd.Series(100 * 1.01 ** np.arange(10) * (1 + 0.05 * (-1) ** np.arange(10)), index)
    m = compute_metrics(_result(pd.Series(100.0, index), unhedged), 24 * H)
    assert m["hedge_effectiveness"] == 1.0
    m = compute_metrics(_result(unhedged, unhedged), 24 * H)
    assert m["hedge_effectiveness"] == 0.0
    assert m["hedged_sharpe"] == m["unhedged_sharpe"]
    # no leverage/margin columns: NaN, not a made-up number
    assert math.isnan(m["mean_leverage"]) and m["funding_net_usd"] == 0.0
