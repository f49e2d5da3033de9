"""Annualisation when a bar is longer than a day (the review's case): one return per bar."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from perphedge.metrics import side_metrics

D = 86_400 * 10**9


def test_weekly_bars_annualise_with_52_weeks_not_365_days():
    # 1w bars (Monday opens). Equity at the closes: 100, 102, 100.98, 102.9996, 101.969604,
    # i.e. weekly returns +2 %, -1 %, +2 %, -1 % (the day-end sampling finds one point a week).
    # mean 0.005; sample sd sqrt(4*0.015^2/3) = sqrt(0.0003) = 0.0173205;
    # 365/7 = 52.142857 weeks a year:
    #   volatility = 0.0173205*sqrt(52.142857) = 0.125071
    #   sharpe     = 0.005/0.0173205*sqrt(52.142857) = 2.08452
    #   sortino: downside dev sqrt((0.01^2 + 0.01^2)/4) = 0.0070711 -> 0.005/0.0070711*7.22101
    #            = 5.10601
    # (Before the fix the weekly returns were annualised with sqrt(365): sqrt(7) = 2.65x too big.)
    values = [100.0, 102.0, 100.98, 102.9996, 101.969604]
    index = pd.DatetimeIndex(
        pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(5) * 7 * D, unit="ns"),
        name="timestamp",
    )
    m = side_metrics(pd.Series(values, index=index), 7 * D, "hedged")
    weeks = 365 / 7
    sd = math.sqrt(0.0003)
    assert m["hedged_volatility"] == pytest.approx(sd * math.sqrt(weeks), rel=1e-9)
    assert m["hedged_volatility"] == pytest.approx(0.125071, rel=1e-5)
    assert m["hedged_sharpe"] == pytest.approx(0.005 / sd * math.sqrt(weeks), rel=1e-9)
    assert m["hedged_sortino"] == pytest.approx(0.005 / math.sqrt(0.00005) * math.sqrt(weeks))


def test_daily_and_shorter_bars_still_use_365_days():
    # 8h bars from 2024-01-01 00:00: closes at 08:00, 16:00, 00:00, ... sampled at day ends.
    closes = [100.0, 100.5, 100.7, 101.0, 100.2, 99.99, 100.0, 100.9, 100.99]
    index = pd.DatetimeIndex(
        pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(9) * D // 3, unit="ns"),
        name="timestamp",
    )
    m = side_metrics(pd.Series(closes, index=index), D // 3, "x")
    # day ends: the closes at 2024-01-02 00:00 (100.7), 01-03 (99.99), 01-04 (100.99), after the
    # first close (08:00, 100.0): returns 0.7 %, 99.99/100.7 - 1, 100.99/99.99 - 1; sqrt(365)
    r = np.array([100.7 / 100.0 - 1, 99.99 / 100.7 - 1, 100.99 / 99.99 - 1])
    assert m["x_volatility"] == pytest.approx(np.std(r, ddof=1) * math.sqrt(365), rel=1e-12)
