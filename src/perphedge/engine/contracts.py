"""Contract arithmetic of inverse (coin-margined) and linear (USDT-margined) perpetuals.

Small pure scalar functions, compiled with numba and callable from plain Python, so the per-bar
kernel and the tests use the very same formulas. Notation follows ``hedging-model.md``: ``q``
signed contracts (inverse) or coins (linear), short < 0; ``S`` contract size in USD; ``E``
average entry; ``P`` price; ``C`` wallet balance (coins for inverse, USDT for linear); ``m``
maintenance-margin rate; ``f`` fee rate; ``s`` slippage fraction.

State-changing operations take the state in and return the new state (no mutation), so each can
be tested alone.

Compile time: the one-line leaf formulas are ``inline="always"``, so numba pastes them into the
compiled caller (the trade functions, the kernel's helpers) instead of compiling each as a unit of
its own (about 0.4 s less on a cold start, with no numba cache). Called from Python they
compile as usual. Inlining changes no arithmetic (no fastmath): results stay bit-identical.
"""

from __future__ import annotations

import math

from numba import njit

NAN = math.nan

# --------------------------------------------------------------------------------------------
# Inverse (coin-margined) perpetual: PnL, funding and fees in the coin.
# --------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def inverse_upnl(q: float, S: float, E: float, P: float) -> float:
    """Unrealized PnL in coins: ``q*S*(1/E - 1/P)``; 0 for a flat position."""
    if q == 0.0:
        return 0.0
    return q * S * (1.0 / E - 1.0 / P)


@njit(cache=True, inline="always")
def inverse_realized(d: float, S: float, E: float, P: float) -> float:
    """Realized PnL in coins of closing ``d`` contracts (signed like the position) at ``P``."""
    if d == 0.0:
        return 0.0
    return d * S * (1.0 / E - 1.0 / P)


@njit(cache=True, inline="always")
def harmonic_entry(q1: float, E1: float, q2: float, P: float) -> float:
    """Average entry after adding ``q2`` contracts at ``P`` to ``q1`` at ``E1`` (same side)."""
    if q1 == 0.0:
        return P
    return (q1 + q2) / (q1 / E1 + q2 / P)


@njit(cache=True, inline="always")
def inverse_funding(q: float, S: float, mark: float, r: float) -> float:
    """Funding RECEIVED in coins at one event: ``-q*S/mark*r`` (r > 0: shorts receive)."""
    return -q * S / mark * r


@njit(cache=True, inline="always")
def funding_received(q: float, per_unit: float) -> float:
    """Funding received given the per-unit-of-short amount (``MarketArrays.funding_per_unit``)."""
    return -q * per_unit


@njit(cache=True, inline="always")
def inverse_fee(d: float, S: float, P: float, f: float) -> float:
    """Trading fee in coins on ``|d|`` contracts at ``P``: ``|d|*S/P*f``."""
    return abs(d) * S / P * f


@njit(cache=True, inline="always")
def inverse_liq_price_short(q: float, S: float, E: float, C: float, m: float) -> float:
    """Liquidation price of a short: ``(1-m)*N*S/(N*S/E - C)``; NaN when ``N*S/E <= C``."""
    if q >= 0.0:
        return NAN
    N = -q
    denom = N * S / E - C
    if denom <= 0.0:
        return NAN
    return (1.0 - m) * N * S / denom


@njit(cache=True, inline="always")
def margin_balance(C: float, upnl: float) -> float:
    """Margin balance (isolated): wallet plus unrealized PnL, in the wallet's unit."""
    return C + upnl


@njit(cache=True, inline="always")
def maintenance_requirement(q: float, S: float, mark: float, m: float) -> float:
    """Inverse maintenance requirement in coins: ``m*|q|*S/mark``."""
    return m * abs(q) * S / mark


@njit(cache=True, inline="always")
def inverse_notional_coin(q: float, S: float, P: float) -> float:
    """Position notional in coins: ``|q|*S/P``."""
    return abs(q) * S / P


@njit(cache=True)
def account_usd_value(C: float, q: float, S: float, E: float, P: float) -> float:
    """Dollar value of an inverse margin account: ``(C + uPnL)*P``."""
    return (C + inverse_upnl(q, S, E, P)) * P


@njit(cache=True, inline="always")
def account_coin_exposure(C: float, q: float, S: float, E: float) -> float:
    """Coin exposure (dV/dP) of an inverse margin account: ``C + q*S/E``."""
    if q == 0.0:
        return C
    return C + q * S / E


@njit(cache=True)
def apply_trade_inverse(
    q: float, E: float, C: float, dq: float, fill: float, S: float, f: float
) -> tuple[float, float, float, float, float]:
    """Trade ``dq`` contracts at ``fill``: returns ``(q, E, C, realized, fee)`` after the trade.

    Adding keeps a harmonic average entry; reducing realizes PnL at the old entry; a flip closes
    all and opens the rest at ``fill``. The fee is taken from the wallet.
    """
    fee = inverse_fee(dq, S, fill, f)
    realized = 0.0
    if dq == 0.0:
        return q, E, C, 0.0, 0.0
    if q == 0.0 or (q > 0.0) == (dq > 0.0):
        E2 = harmonic_entry(q, E, dq, fill)
        q2 = q + dq
    elif abs(dq) <= abs(q):
        realized = inverse_realized(-dq, S, E, fill)
        q2 = q + dq
        E2 = E if q2 != 0.0 else NAN
    else:
        realized = inverse_realized(q, S, E, fill)
        q2 = q + dq
        E2 = fill
    return q2, E2, C + realized - fee, realized, fee


# --------------------------------------------------------------------------------------------
# Linear (USDT-margined) perpetual: quantity in coins, PnL, funding and fees in USDT.
# --------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def linear_upnl(q: float, E: float, P: float) -> float:
    """Unrealized PnL in USDT: ``q*(P - E)``."""
    if q == 0.0:
        return 0.0
    return q * (P - E)


@njit(cache=True, inline="always")
def linear_realized(d: float, E: float, P: float) -> float:
    """Realized PnL in USDT of closing ``d`` coins (signed like the position) at ``P``."""
    if d == 0.0:
        return 0.0
    return d * (P - E)


@njit(cache=True, inline="always")
def linear_entry(q1: float, E1: float, q2: float, P: float) -> float:
    """Average entry (arithmetic, quantity-weighted) after adding ``q2`` at ``P`` to ``q1``."""
    if q1 == 0.0:
        return P
    return (q1 * E1 + q2 * P) / (q1 + q2)


@njit(cache=True, inline="always")
def linear_funding(q: float, mark: float, r: float) -> float:
    """Funding RECEIVED in USDT at one event: ``-q*mark*r``."""
    return -q * mark * r


@njit(cache=True, inline="always")
def linear_fee(d: float, P: float, f: float) -> float:
    """Trading fee in USDT: ``|d|*P*f``."""
    return abs(d) * P * f


@njit(cache=True, inline="always")
def linear_maintenance(q: float, mark: float, m: float) -> float:
    """Linear maintenance requirement in USDT: ``m*|q|*mark``."""
    return m * abs(q) * mark


@njit(cache=True, inline="always")
def linear_liq_price_short(q: float, E: float, C: float, m: float) -> float:
    """Liquidation price of a linear short: ``(C + N*E)/(N*(1+m))``; NaN when flat."""
    if q >= 0.0:
        return NAN
    N = -q
    return (C + N * E) / (N * (1.0 + m))


@njit(cache=True)
def apply_trade_linear(
    q: float, E: float, C: float, dq: float, fill: float, f: float
) -> tuple[float, float, float, float, float]:
    """Trade ``dq`` coins at ``fill``: returns ``(q, E, C, realized, fee)`` after the trade."""
    fee = linear_fee(dq, fill, f)
    realized = 0.0
    if dq == 0.0:
        return q, E, C, 0.0, 0.0
    if q == 0.0 or (q > 0.0) == (dq > 0.0):
        E2 = linear_entry(q, E, dq, fill)
        q2 = q + dq
    elif abs(dq) <= abs(q):
        realized = linear_realized(-dq, E, fill)
        q2 = q + dq
        E2 = E if q2 != 0.0 else NAN
    else:
        realized = linear_realized(q, E, fill)
        q2 = q + dq
        E2 = fill
    return q2, E2, C + realized - fee, realized, fee


# --------------------------------------------------------------------------------------------
# Spot trades (basket coins and the margin coin), USD accounting.
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def spot_buy_usd(budget: float, p: float, s: float, f: float) -> tuple[float, float, float]:
    """Spend ``budget`` USD (fee included) on a coin: returns ``(coins, fee_usd, slip_usd)``.

    Fill ``p*(1+s)``; fee ``f`` on the fill notional. Value lost = ``fee + slip`` exactly.
    """
    fill = p * (1.0 + s)
    coins = budget / (fill * (1.0 + f))
    return coins, coins * fill * f, coins * p * s


@njit(cache=True, inline="always")
def spot_sell_coins(coins: float, p: float, s: float, f: float) -> tuple[float, float, float]:
    """Sell ``coins``: returns ``(usd_received, fee_usd, slip_usd)``; fill ``p*(1-s)``."""
    fill = p * (1.0 - s)
    gross = coins * fill
    fee = gross * f
    return gross - fee, fee, coins * p * s
