"""Tracking error and worst day (perphedge.hedge_quality) on a three-day hand table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from perphedge.engine.types import Result
from perphedge.hedge_quality import hedge_quality, price_residuals

DAY = 86_400 * 10**9


def _result() -> Result:
    index = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC", name="timestamp")
    ts = pd.DataFrame(
        {
            "equity_hedged": [9_990.0, 10_100.0, 9_900.0],  # bar 0 after 10 USD of entry fees
            "equity_unhedged": [10_000.0, 10_500.0, 9_450.0],
            "funding_cum_usd": [0.0, 50.0, 50.0],
            "fees_cum_usd": [10.0, 10.0, 20.0],
            "slippage_cum_usd": [0.0, 0.0, 0.0],
        },
        index=index,
    )
    empty = pd.DataFrame()
    return Result(ts, empty, empty, {}, meta={"capital": 10_000.0})


def test_price_residual_leaves_out_funding_and_costs() -> None:
    # the run starts at bar 0's close with the capital, 10,000 (its entry fee of 10 counts in
    # day 1): day ends 10,000 -> 10,100 -> 9,900; cumulative fees 0 -> 10 -> 20, funding 0 -> 50
    # day 1: 100 - 50 + 10 = 60; day 2: -200 - 0 + 10 = -190
    got = price_residuals(_result(), DAY)
    np.testing.assert_allclose(got, [60 / 10_000, -190 / 10_100], rtol=1e-14)


def test_tracking_error_and_worst_day() -> None:
    q = hedge_quality(_result(), DAY)
    # two residuals: sample std = |a - b| / sqrt(2)
    te = abs(60 / 10_000 + 190 / 10_100) / math.sqrt(2) * math.sqrt(365)
    assert q["tracking_error"] == pytest.approx(te, rel=1e-12)
    assert q["worst_day"] == pytest.approx(-200 / 10_100, rel=1e-14)
    assert q["worst_day_unhedged"] == pytest.approx(-1_050 / 10_500, rel=1e-14)
    # hedged 0.01, -200/10,100; unhedged 0.05, -0.1: variances (a - b)^2 / 2
    expected = 1 - (0.01 + 200 / 10_100) ** 2 / (0.05 + 0.1) ** 2
    assert q["hedge_effectiveness"] == pytest.approx(expected, rel=1e-12)
