"""Hypothesis properties of the engine: synthetic dollar, attribution, no look-ahead,
determinism, zero hedge = unhedged."""

import numpy as np
import pandas as pd
from engine_tables import HOUR, free_leg, make_market, make_params, random_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perphedge.domain import Counterfactual, SizingRule
from perphedge.engine import simulate
from perphedge.engine.types import MarketArrays

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

prices = st.lists(
    st.floats(min_value=5.0, max_value=200_000.0, allow_nan=False), min_size=2, max_size=60
)


@FAST
@given(path=prices, spike=st.floats(min_value=0.0, max_value=3.0))
def test_synthetic_dollar_holds_its_value_and_never_liquidates(path, spike):
    # C = 1 ETH posted, short N*S = C*E at 1x: basket-only sizing against a 1,000 USD stable
    # basket with ratio p0/1000 gives N*S = p0 = C*E; no fees. Only the leg moves.
    p0 = path[0]
    T = len(path)
    eth = np.asarray(path)
    m = make_market(
        np.ones(T),
        coins=("USDC",),
        contract_sizes=(p0 / 300.0,),
        mark=eth,
        high=eth * (1.0 + spike),
        coin_usd=eth,
    )
    params = make_params(
        capital=p0 + 1_000.0,
        legs=(free_leg(contract_size=p0 / 300.0),),
        collateral_usd=p0,
        sizing=SizingRule.BASKET_ONLY,
    )
    r = simulate(m, params, np.full((T, 1), p0 / 1_000.0))
    ts = r.timeseries
    assert ts["contracts_0"].iloc[0] == -300.0  # N*S = 300 * p0/300 = C*E
    leg_usd = (ts["collateral_coin_0"] + ts["upnl_coin_0"]) * eth
    np.testing.assert_allclose(leg_usd.to_numpy(), p0, rtol=1e-9)
    assert (r.events["kind"] != "liquidation").all()
    assert ts["liq_price_0"].isna().all() or (ts["liq_price_0"] > 1e12).all()


def _check_attribution(r):
    eq = r.timeseries["equity_hedged"].to_numpy()
    change = eq[-1] - r.meta["capital"]  # the attribution runs from the capital
    parts = ["spot", "hedge_price", "funding", "fees", "slippage", "collateral_reval"]
    total = sum(r.attribution[k] for k in parts)
    scale = max(r.meta["capital"], abs(eq[-1]))
    assert abs(total - change) <= 1e-9 * scale
    assert r.attribution["total"] == total
    assert r.attribution["fees"] <= 0.0 and r.attribution["slippage"] <= 0.0
    # the cumulative cost columns count the same amounts, entry costs included
    ts = r.timeseries
    for name, column, sign in (
        ("fees", "fees_cum_usd", -1.0),
        ("slippage", "slippage_cum_usd", -1.0),
        ("funding", "funding_cum_usd", 1.0),
    ):
        moved = sign * ts[column].iloc[-1]
        assert abs(r.attribution[name] - moved) <= 1e-9 * scale


@FAST
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_attribution_adds_up_on_random_paths_and_params(seed):
    m, p, h = random_case(seed)
    _check_attribution(simulate(m, p, h))


def _cut(m: MarketArrays, n: int) -> MarketArrays:
    fields = {}
    for name in m.__dataclass_fields__:
        v = getattr(m, name)
        fields[name] = v[:n] if isinstance(v, np.ndarray) else v
    return MarketArrays(**fields)


@FAST
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), cut=st.integers(1, 47))
def test_cutting_the_future_off_changes_nothing_before(seed, cut):
    m, p, h = random_case(seed)
    full = simulate(m, p, h)
    part = simulate(_cut(m, cut), p, h[:cut])
    pd.testing.assert_frame_equal(part.timeseries, full.timeseries.iloc[:cut], check_exact=True)
    last = full.timeseries.index[cut - 1]
    for name in ("trades", "events"):
        a = getattr(part, name)
        b = getattr(full, name)
        b = b[b["time"] <= last].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_exact=True)


@FAST
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_same_inputs_give_bit_identical_results(seed):
    m, p, h = random_case(seed)
    a = simulate(m, p, h)
    b = simulate(m, p, h)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries, check_exact=True)
    assert np.array_equal(a.timeseries.to_numpy(), b.timeseries.to_numpy(), equal_nan=True)
    pd.testing.assert_frame_equal(a.trades, b.trades, check_exact=True)
    pd.testing.assert_frame_equal(a.events, b.events, check_exact=True)
    assert a.attribution == b.attribution


@FAST
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_zero_hedge_ratio_reproduces_the_unhedged_curve_exactly(seed):
    m, p, h = random_case(seed)
    p = type(p)(
        **{
            **{k: getattr(p, k) for k in p.__dataclass_fields__},
            "collateral_usd": None,
            "counterfactual": Counterfactual.BASKET,
        }
    )
    r = simulate(m, p, np.zeros_like(h))
    ts = r.timeseries
    assert np.array_equal(ts["equity_hedged"].to_numpy(), ts["equity_unhedged"].to_numpy())
    assert (r.trades["reason"] == "initial").all()
    a = r.attribution
    assert a["hedge_price"] == 0.0 and a["funding"] == 0.0 and a["collateral_reval"] == 0.0
    # only the basket's entry costs, the same the unhedged side paid
    assert a["fees"] == -ts["fees_cum_usd"].iloc[-1]
    assert a["slippage"] == -ts["slippage_cum_usd"].iloc[-1]


def test_repeated_runs_do_not_copy_contiguous_market_arrays():
    m = make_market([2000.0, 2100.0, 2050.0], bar_ns=HOUR)
    from perphedge.engine.simulate import _validate_market

    arrs = _validate_market(m)
    assert arrs["spot_close"] is m.spot_close
    assert arrs["mark_close"] is m.mark_close
    assert arrs["funding_events"] is m.funding_events
