"""Dated (delivery) inverse futures: the contract arithmetic of delivery and rolls.

A dated coin-margined future is accounted like the inverse perpetual (contracts of ``S`` USD,
PnL in coin, harmonic entry, fees in coin, isolated margin), with no funding. These pure
functions (state in, state out, compiled by numba like :mod:`perphedge.engine.contracts`) add
what a perpetual never does: delivery at expiry and the roll from one contract into the next.
docs/engine.md ("Dated futures") states the rules; they are not yet wired into the bar loop.
"""

from __future__ import annotations

import math

from numba import njit

from perphedge.engine.contracts import apply_trade_inverse

DAY_NS = 86_400 * 10**9


@njit(cache=True)
def deliver_inverse(
    q: float, E: float, C: float, S: float, p_delivery: float, delivery_fee: float
) -> tuple[float, float, float, float, float]:
    """Settle a position still open at expiry at the delivery price (no slippage).

    Returns ``(q, E, C, realized, fee)`` after delivery: the position is closed, its PnL
    ``q·S·(1/E − 1/p)`` coins is realized into the wallet and the exchange's delivery fee
    ``|q|·S/p·delivery_fee`` coins is taken from it.
    """
    return apply_trade_inverse(q, E, C, -q, p_delivery, S, delivery_fee)


@njit(cache=True)
def roll_inverse(
    q: float,
    E: float,
    C: float,
    S: float,
    p_old: float,
    p_new: float,
    fee: float,
    slip: float,
    q_new: float,
) -> tuple[float, float, float, float, float, float]:
    """Roll a short from the expiring contract into the next at one bar close: two trades.

    Close ``q`` at ``p_old`` (a buy: fill ``p_old·(1+slip)``), then open ``q_new`` (≤ 0) in the
    new contract at ``p_new`` (a sell: fill ``p_new·(1−slip)``), each with the taker fee.
    Returns ``(q, E, C, fee_close, fee_open, slippage)``, fees and slippage in coins (slippage
    as a positive cost measured against ``p_old`` and ``p_new``).
    """
    fee_close = 0.0
    fee_open = 0.0
    slippage = 0.0
    if q != 0.0:
        fill = p_old * (1.0 + slip) if -q > 0.0 else p_old * (1.0 - slip)
        slippage += abs(q) * S * abs(1.0 / fill - 1.0 / p_old)
        q, E, C, _r, fee_close = apply_trade_inverse(q, E, C, -q, fill, S, fee)
    if q_new != 0.0:
        fill = p_new * (1.0 - slip) if q_new < 0.0 else p_new * (1.0 + slip)
        q, E, C, _r, fee_open = apply_trade_inverse(q, E, C, q_new, fill, S, fee)
        slippage += abs(q_new) * S * abs(1.0 / fill - 1.0 / p_new)
    return q, E, C, fee_close, fee_open, slippage


@njit(cache=True)
def roll_target_delta_neutral(C: float, h: float, B: float, p_new: float, S: float) -> float:
    """Size of the new contract after the old one is closed (flat, so the account's coin
    exposure is the wallet ``C``): ``q* = round((−h·B − C·p)/S)``, never a long."""
    qs = math.floor((-h * B - C * p_new) / S + 0.5)
    return qs if qs < 0.0 else 0.0


@njit(cache=True, inline="always")
def basis(future: float, spot: float) -> float:
    """The future's premium over spot: ``future/spot − 1`` (positive: contango)."""
    return future / spot - 1.0


@njit(cache=True, inline="always")
def days_to_expiry(t_ns: int, expiry_ns: int) -> float:
    """Days (fractional) from ``t_ns`` to the contract's expiry."""
    return (expiry_ns - t_ns) / DAY_NS


def chain_contract(t_ns: int, expiries_ns: list[int], days_before: float) -> int:
    """Index of the contract a rolled chain holds at decision time ``t_ns``: the nearest one
    with more than ``days_before`` days left (-1 if none). The chain rolls at the first
    decision point where the contract it holds stops qualifying."""
    for i, exp in enumerate(sorted(expiries_ns)):
        if days_to_expiry(t_ns, exp) > days_before:
            return i
    return -1
