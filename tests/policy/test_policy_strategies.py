"""Each shipped strategy on a hand-made context, with targets worked out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from perphedge.errors import StrategyError
from perphedge.policy import PolicyContext, compute_targets, load_policy

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"
H = 3_600 * 10**9
D = 24 * H
T0 = np.datetime64("2024-01-01T00:00", "ns").astype(np.int64)


def make_ctx(
    basket: list[float],
    hedge: list[list[float]] | list[float],
    *,
    bar_ns: int = D,
    funding: list[list[float]] | list[float] | None = None,
    base_ratio: float = 1.0,
    leg_weights: list[float] | None = None,
) -> PolicyContext:
    n = len(basket)
    hp = np.asarray(hedge, dtype=float)
    hp = hp[:, None] if hp.ndim == 1 else hp
    fr = np.zeros_like(hp) if funding is None else np.asarray(funding, dtype=float)
    fr = fr[:, None] if fr.ndim == 1 else fr
    return PolicyContext.from_arrays(
        times=T0 + np.arange(n, dtype=np.int64) * bar_ns,
        bar_ns=bar_ns,
        spot_close=np.asarray(basket, dtype=float)[:, None],
        weights=[1.0],
        hedge_price=hp,
        coin_usd=hp,
        funding_rate=fr,
        funding_events=(fr != 0).astype(np.int64),
        legs=tuple(f"leg{j}" for j in range(hp.shape[1])),
        base_ratio=base_ratio,
        leg_weights=leg_weights,
    )


def run(name: str, ctx: PolicyContext, **params) -> np.ndarray:
    return compute_targets(load_policy(name, [STRATEGIES]), ctx, params)


def test_context_basket_value_and_funding_nan():
    ctx = PolicyContext.from_arrays(
        times=T0 + np.arange(3) * D,
        bar_ns=D,
        spot_close=np.array([[10.0, 100.0], [20.0, 100.0], [20.0, 50.0]]),
        weights=[0.5, 0.5],
        hedge_price=np.ones((3, 1)),
        coin_usd=np.ones((3, 1)),
        funding_rate=np.array([[0.0], [0.0001], [0.0]]),
        funding_events=np.array([[0], [1], [0]]),
        legs=("l",),
        base_ratio=1.0,
    )
    # 0.05 coin A + 0.005 coin B: 1.0, 1.0 + 0.5 = 1.5, 1.0 + 0.25 = 1.25
    np.testing.assert_allclose(ctx.basket_value, [1.0, 1.5, 1.25])
    assert np.isnan(ctx.basket_returns[0])
    np.testing.assert_allclose(ctx.basket_returns[1:], [0.5, -1 / 6])
    assert np.isnan(ctx.funding_rate[0, 0]) and np.isnan(ctx.funding_rate[2, 0])
    assert ctx.funding_rate[1, 0] == 0.0001
    assert str(ctx.index.tz) == "UTC"
    with pytest.raises(ValueError, match="read-only"):
        ctx.hedge_price[0, 0] = 5.0


def test_fixed_splits_base_ratio_over_leg_weights():
    ctx = make_ctx([1, 2, 3], [[1, 1], [2, 2], [3, 3]], base_ratio=0.8, leg_weights=[0.25, 0.75])
    out = run("fixed", ctx)
    np.testing.assert_allclose(out, np.tile([0.2, 0.6], (3, 1)), rtol=1e-15)


def test_rolling_beta_hand_computed():
    # hedge returns 0.1, -0.1, 0.1; basket returns 0.1, -0.05, 0.05 (rows 1..3).
    # Over 3 samples: mean 1/30 each; cov sum = 1/60, var sum = 1/37.5 -> beta = 0.625.
    basket = [1.0, 1.1, 1.045, 1.09725]
    hedge = [100.0, 110.0, 99.0, 108.9]
    ctx = make_ctx(basket, hedge, base_ratio=0.8)
    out = run("rolling_beta", ctx, lookback="3d", sample="1d")
    # rows 0..2: not yet 3 returns -> base ratio; row 3: 0.8 * 0.625 = 0.5
    np.testing.assert_allclose(out[:, 0], [0.8, 0.8, 0.8, 0.5], rtol=1e-9)
    clipped = run("rolling_beta", ctx, lookback="3d", sample="1d", max_ratio=0.4)
    # warm-up rows return base_ratio as is (documented); estimates are clipped
    np.testing.assert_allclose(clipped[:, 0], [0.8, 0.8, 0.8, 0.4])


def test_rolling_beta_exact_multiple_and_negative_beta_clip():
    hedge = [100.0, 110.0, 99.0, 108.9]
    up = [1.0, 1.2, 0.96, 1.152]  # returns exactly twice the hedge's
    out = run("rolling_beta", make_ctx(up, hedge, base_ratio=0.5), lookback="2d")
    np.testing.assert_allclose(out[:, 0], [0.5, 0.5, 1.0, 1.0], rtol=1e-9)
    down = [1.0, 0.9, 0.99, 0.891]  # returns minus the hedge's -> beta -1, clipped to 0.1
    out = run("rolling_beta", make_ctx(down, hedge), lookback="2d", min_ratio=0.1)
    np.testing.assert_allclose(out[:, 0], [1.0, 1.0, 0.1, 0.1])


def test_rolling_beta_holds_between_daily_samples_on_12h_bars():
    # 12h bars from 00:00: closes at 12:00 (rows 0,2,4,...) and 00:00 (rows 1,3,5,...).
    hedge = [100, 100, 110, 110, 99, 99, 108.9, 108.9]
    basket = [1, 1, 1.2, 1.2, 0.96, 0.96, 1.152, 1.152]
    out = run(
        "rolling_beta",
        make_ctx(basket, hedge, bar_ns=12 * H, base_ratio=0.5),
        lookback="2d",
        sample="1d",
    )
    # samples at rows 1,3,5,7; returns at rows 3,5,7; two returns first at row 5
    np.testing.assert_allclose(out[:, 0], [0.5] * 5 + [1.0] * 3, rtol=1e-9)


def test_rolling_beta_zero_variance_keeps_previous():
    hedge = [100.0, 110.0, 99.0, 99.0, 99.0]
    basket = [1.0, 1.2, 0.96, 0.96, 0.96]
    out = run("rolling_beta", make_ctx(basket, hedge, base_ratio=0.5), lookback="2d")
    # row 2: beta 2 -> 1.0; row 3 window (-0.1, 0) beta 2 again; row 4 window (0, 0): keep
    np.testing.assert_allclose(out[:, 0], [0.5, 0.5, 1.0, 1.0, 1.0], rtol=1e-9)


def test_rolling_beta_bad_params():
    ctx = make_ctx([1, 1, 1], [1, 1, 1])
    with pytest.raises(StrategyError, match=r"^policy\.params\.lookback: 36h must be a whole"):
        run("rolling_beta", ctx, lookback="36h")
    with pytest.raises(StrategyError, match=r"^policy\.params\.sample: invalid duration 'x'"):
        run("rolling_beta", ctx, sample="x")
    with pytest.raises(StrategyError, match=r"^policy\.params\.min_ratio: need 0 <= min_ratio"):
        run("rolling_beta", ctx, min_ratio=3.0)


def test_funding_aware_cuts_when_shorts_pay():
    # 8h bars, window 1d = 3 bars; annualised = sum * 365.
    rates = [0.0001, -0.0001, -0.0002, -0.0001, 0.0003, 0.0]
    ctx = make_ctx([1] * 6, [1] * 6, bar_ns=8 * H, funding=rates, base_ratio=0.9)
    out = run("funding_aware", ctx, window="1d", threshold=0.05)
    # sums: row2 -0.0002 (7.3 %/yr paid > 5 %) cut; row3 -0.0004 cut; row4 0 keep;
    # row5 0.0002 keep; rows 0,1 warm-up keep
    np.testing.assert_allclose(out[:, 0], [0.9, 0.9, 0.0, 0.0, 0.9, 0.9])
    out = run("funding_aware", ctx, window="1d", threshold=0.10, reduced_ratio=0.3)
    # only row3 (14.6 %/yr) exceeds 10 %
    np.testing.assert_allclose(out[:, 0], [0.9, 0.9, 0.9, 0.3, 0.9, 0.9])


def test_funding_aware_is_interval_free_across_8h_to_4h_change():
    # 1h bars, window 8h. Funding -0.0001 every 8h (rows 0, 8, 16), then -0.00005 every 4h
    # (rows 20, 24, 28): the same cost per hour, -0.0001 * 3 * 365 = 10.95 %/yr paid by shorts.
    rates = np.zeros(32)
    rates[[0, 8, 16]] = -0.0001
    rates[[20, 24, 28]] = -0.00005
    ctx = make_ctx([1] * 32, [1] * 32, bar_ns=H, funding=rates)
    cut_at_10 = run("funding_aware", ctx, window="8h", threshold=0.10)[:, 0]
    assert (cut_at_10[:7] == 1.0).all() and (cut_at_10[7:] == 0.0).all()
    # above 10.95 %: only rows 20..23 cut, whose window holds both the 16h and the 20h events
    # (-0.00015 -> 16.4 %/yr); in the pure 4h regime (rows 27+) two events = the 8h cost
    cut_at_11 = run("funding_aware", ctx, window="8h", threshold=0.11)[:, 0]
    expected = np.ones(32)
    expected[20:24] = 0.0
    np.testing.assert_array_equal(cut_at_11, expected)


def test_scheduled_windows_on_bar_closes():
    ctx = make_ctx([1] * 6, [1] * 6, base_ratio=0.7)
    # closes are 01-02 .. 01-07; [01-03, 01-05) holds the closes of rows 1 and 2
    out = run("scheduled", ctx, windows=[["2024-01-03", "2024-01-05"]])
    np.testing.assert_allclose(out[:, 0], [0, 0.7, 0.7, 0, 0, 0])
    # YAML dates arrive as datetime.date; two windows; explicit ratio
    out = run(
        "scheduled",
        ctx,
        windows=[[dt.date(2024, 1, 2), dt.date(2024, 1, 3)], ["2024-01-06 12:00", "2024-02-01"]],
        ratio=0.5,
    )
    np.testing.assert_allclose(out[:, 0], [0.5, 0, 0, 0, 0, 0.5])


def test_scheduled_errors():
    ctx = make_ctx([1] * 3, [1] * 3)
    with pytest.raises(StrategyError, match=r"^policy\.params\.windows: required parameter"):
        run("scheduled", ctx)
    with pytest.raises(StrategyError, match=r"^policy\.params\.windows\[0\]: start .* not before"):
        run("scheduled", ctx, windows=[["2024-02-01", "2024-01-01"]])
    with pytest.raises(
        StrategyError, match=r"^policy\.params\.windows\[1\]: expected \[start, end\]"
    ):
        run("scheduled", ctx, windows=[["2024-01-01", "2024-01-02"], ["2024-01-01"]])
    with pytest.raises(StrategyError, match=r"^policy\.params\.windows\[0\]: not a date: 'soon'"):
        run("scheduled", ctx, windows=[["soon", "2024-01-02"]])
