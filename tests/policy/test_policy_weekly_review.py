"""rolling_beta on weekly bars (Monday grid): sample points are the bar closes on that grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from perphedge.policy import PolicyContext, compute_targets, load_policy

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"
WEEK = 7 * 86_400 * 10**9
MONDAY = pd.Timestamp("2024-01-01", tz="UTC").value  # weekly bars open on Mondays


def test_rolling_beta_samples_weekly_closes_on_the_monday_grid():
    # basket returns +5 %, -5 %; hedge coin returns +10 %, -10 %. Over the 2-week lookback
    # (two weekly returns, ddof 1): cov = (0.05*0.1 + 0.05*0.1)/1 = 0.01,
    # var = (0.1^2 + 0.1^2)/1 = 0.02 -> beta 0.5; base ratio 1 -> targets 1, 1, 0.5.
    # (Before the fix sample points were closes that are multiples of 1w since the epoch, i.e.
    # Thursdays: none on a Monday grid, so the policy silently returned the base ratio.)
    spot = np.array([[10.0], [10.5], [9.975]])
    hedge = np.array([[100.0], [110.0], [99.0]])
    ctx = PolicyContext.from_arrays(
        times=MONDAY + np.arange(3, dtype=np.int64) * WEEK,
        bar_ns=WEEK,
        spot_close=spot,
        weights=[1.0],
        hedge_price=hedge,
        coin_usd=hedge,
        funding_rate=np.zeros((3, 1)),
        funding_events=np.zeros((3, 1), dtype=np.int64),
        legs=("binance ETH/USD:ETH",),
        base_ratio=1.0,
    )
    fn = load_policy("rolling_beta", [STRATEGIES])
    out = compute_targets(fn, ctx, {"lookback": "2w", "sample": "1w"})
    np.testing.assert_allclose(out[:, 0], [1.0, 1.0, 0.5], rtol=1e-12)
