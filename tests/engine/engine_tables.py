"""Build MarketArrays and EngineParams from tiny hand tables for the engine tests."""

from __future__ import annotations

import numpy as np

from perphedge.domain import InstrumentKind
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
    base = dict(taker_fee=0.0, slippage=0.0, liquidation_fee=0.005, maintenance_margin=0.005)
    base.update(kw)
    return LegParams(kind=kind, contract_size=size, **base)


def make_params(**kw) -> EngineParams:
    """Engine params with no costs, one free inverse leg, and daily rebalancing by default."""
    base = dict(
        capital=10_000.0,
        weights=np.array([1.0]),
        legs=(free_leg(),),
        spot_fee=0.0,
        spot_slippage=0.0,
        manage_margin=False,
        rebalance_every_ns=DAY,
    )
    base.update(kw)
    return EngineParams(**base)
