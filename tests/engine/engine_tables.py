"""Build MarketArrays and EngineParams from tiny hand tables for the engine tests."""

from __future__ import annotations

import numpy as np

from perphedge.domain import InstrumentKind, SizingRule
from perphedge.engine.types import EngineParams, LegParams, MarketArrays

HOUR = 3_600 * 10**9
DAY = 24 * HOUR


def col(values) -> np.ndarray:
    """A (T, 1) float column from a list."""
    return np.asarray(values, dtype=np.float64).reshape(-1, 1)


def make_market(
    spot,
    *,
    coins=("ETH",),
    legs=("binance ETH/USD:ETH",),
    kinds=(InstrumentKind.INVERSE,),
    contract_sizes=(10.0,),
    mark=None,
    high=None,
    low=None,
    trade=None,
    coin_usd=None,
    funding_rate=None,
    bar_ns: int = HOUR,
    start_ns: int = 0,
    notes=(),
) -> MarketArrays:
    """Market on an hourly grid starting at ``start_ns``.

    ``spot`` is (T,) or (T, K). By default each leg's mark, trade price and margin-coin price
    are the first basket coin's spot close; high = low = close. ``funding_rate`` (T, J) gives one
    event per bar where non-zero, paid at the bar's mark close: per unit of short that is
    ``S*r/mark`` coins (inverse) or ``r*mark`` USDT (linear).
    """
    spot = np.asarray(spot, dtype=np.float64)
    if spot.ndim == 1:
        spot = spot.reshape(-1, 1)
    T = spot.shape[0]
    J = len(legs)
    mark = np.repeat(spot[:, :1], J, axis=1) if mark is None else np.asarray(mark, float)
    mark = mark.reshape(T, J)
    high = mark.copy() if high is None else np.asarray(high, float).reshape(T, J)
    low = mark.copy() if low is None else np.asarray(low, float).reshape(T, J)
    trade = mark.copy() if trade is None else np.asarray(trade, float).reshape(T, J)
    if coin_usd is None:
        coin_usd = np.ones((T, J))
        for j, kind in enumerate(kinds):
            if kind is InstrumentKind.INVERSE:
                coin_usd[:, j] = mark[:, j]
    coin_usd = np.asarray(coin_usd, float).reshape(T, J)
    rate = np.zeros((T, J)) if funding_rate is None else np.asarray(funding_rate, float)
    rate = rate.reshape(T, J)
    per_unit = np.zeros((T, J))
    for j, kind in enumerate(kinds):
        if kind is InstrumentKind.INVERSE:
            per_unit[:, j] = contract_sizes[j] * rate[:, j] / mark[:, j]
        else:
            per_unit[:, j] = rate[:, j] * mark[:, j]
    return MarketArrays(
        times=start_ns + np.arange(T, dtype=np.int64) * bar_ns,
        bar_ns=bar_ns,
        coins=tuple(coins),
        spot_close=spot,
        legs=tuple(legs),
        leg_kind=tuple(kinds),
        mark_close=mark,
        mark_high=high,
        mark_low=low,
        trade_close=trade,
        coin_usd=coin_usd,
        funding_rate=rate,
        funding_per_unit=per_unit,
        funding_events=(rate != 0.0).astype(np.int64),
        notes=tuple(notes),
    )


def free_leg(kind=InstrumentKind.INVERSE, size=10.0, **kw) -> LegParams:
    """A leg with no fees and no slippage unless given."""
    base = dict(
        contract_size=size,
        taker_fee=0.0,
        slippage=0.0,
        liquidation_fee=0.005,
        maintenance_margin=0.005,
    )
    base.update(kw)
    return LegParams(kind=kind, **base)


def make_params(**kw) -> EngineParams:
    """Engine params with no costs, one free inverse leg, and daily rebalancing by default.

    Margin is not managed and the leverage band is wide open, so the initial-margin cap (the
    band's top) never binds unless a test sets a band: the
    hand tables test sizing and accounting, tests/engine/test_margin_cap.py tests the cap.
    """
    base = dict(
        capital=10_000.0,
        weights=np.array([1.0]),
        legs=(free_leg(),),
        spot_fee=0.0,
        spot_slippage=0.0,
        manage_margin=False,
        leverage_band=(0.0, 1e9),
        rebalance_every_ns=DAY,
    )
    base.update(kw)
    return EngineParams(**base)


def random_case(seed: int, n_bars: int = 48):
    """A random but valid (market, params, targets) triple for property tests.

    Geometric random walks for the basket coins; each leg is inverse (margin coin drawn from the
    basket or an outside coin) or linear; mark and trade prices carry a small basis; bar highs
    sometimes spike far enough to liquidate. Costs, sizing, leverage, bands, margin management,
    rebalance period and counterfactual are drawn too.
    """
    from perphedge.domain import Counterfactual

    rng = np.random.default_rng(seed)
    T = n_bars
    K = int(rng.integers(1, 4))
    J = int(rng.integers(1, 3))
    coins = tuple(f"C{k}" for k in range(K))
    vol = float(rng.choice([0.005, 0.02, 0.06]))
    spot = 50.0 * np.exp(np.cumsum(rng.normal(0.0, vol, (T, K)), axis=0))
    legs, kinds, sizes, coin_usd, mark = [], [], [], np.ones((T, J)), np.empty((T, J))
    for j in range(J):
        if rng.random() < 0.7:
            kinds.append(InstrumentKind.INVERSE)
            if rng.random() < 0.6:
                k = int(rng.integers(0, K))
                name, path = coins[k], spot[:, k]
            else:
                name = f"X{j}"
                path = 80.0 * np.exp(np.cumsum(rng.normal(0.0, vol, T)))
            legs.append(f"venue {name}/USD:{name}")
            sizes.append(float(rng.choice([1.0, 10.0])))
            coin_usd[:, j] = path
        else:
            kinds.append(InstrumentKind.LINEAR)
            name = coins[int(rng.integers(0, K))]
            path = spot[:, coins.index(name)]
            legs.append(f"venue {name}/USDT:USDT")
            sizes.append(float(rng.choice([0.001, 0.1])))
        mark[:, j] = path * (1.0 + rng.normal(0.0, 0.001, T))
    spike = np.where(rng.random((T, J)) < 0.05, rng.uniform(0.05, 0.6, (T, J)), 0.0)
    high = mark * (1.0 + rng.uniform(0.0, 0.01, (T, J)) + spike)
    low = mark * (1.0 - rng.uniform(0.0, 0.01, (T, J)))
    trade = mark * (1.0 + rng.normal(0.0, 0.0005, (T, J)))
    rate = np.where(rng.random((T, J)) < 0.3, rng.normal(0.0, 0.0005, (T, J)), 0.0)
    m = make_market(
        spot,
        coins=coins,
        legs=tuple(legs),
        kinds=tuple(kinds),
        contract_sizes=tuple(sizes),
        mark=mark,
        high=high,
        low=low,
        trade=trade,
        coin_usd=coin_usd,
        funding_rate=rate,
        start_ns=int(rng.integers(0, 24)) * HOUR,
    )
    w = rng.uniform(0.1, 1.0, K)
    w = w / w.sum()
    leg_params = tuple(
        LegParams(
            kind=kinds[j],
            contract_size=sizes[j],
            weight=1.0 / J,
            maintenance_margin=float(rng.choice([0.005, 0.02])),
            taker_fee=float(rng.choice([0.0, 0.0005])),
            liquidation_fee=float(rng.choice([0.0, 0.005, 0.03])),
            slippage=float(rng.choice([0.0, 0.0003])),
        )
        for j in range(J)
    )
    lo = float(rng.uniform(0.0, 2.0))
    hi = lo + float(rng.uniform(1.0, 6.0))
    params = EngineParams(
        capital=float(rng.choice([1_000.0, 100_000.0])),
        weights=w,
        legs=leg_params,
        sizing=SizingRule.DELTA_NEUTRAL if rng.random() < 0.6 else SizingRule.BASKET_ONLY,
        spot_fee=float(rng.choice([0.0, 0.001])),
        spot_slippage=float(rng.choice([0.0, 0.0005])),
        initial_leverage=float(rng.uniform(1.5, 10.0)),
        collateral_usd=None if rng.random() < 0.8 else float(rng.uniform(0.0, 200.0)),
        leverage_band=(lo, hi),
        leverage_target=float(rng.uniform(lo, hi)),
        manage_margin=bool(rng.random() < 0.7),
        rebalance_every_ns=int(rng.choice([1, 2, 4, 24])) * HOUR,
        rebalance_band=float(rng.choice([0.0, 0.05])),
        min_trade_usd=float(rng.choice([0.0, 20.0])),
        rehedge_after_liquidation=bool(rng.random() < 0.7),
        counterfactual=list(Counterfactual)[int(rng.integers(0, 3))],
    )
    targets = rng.uniform(0.0, 1.5, (T, J))
    targets[rng.random((T, J)) < 0.1] = np.nan
    return m, params, targets
