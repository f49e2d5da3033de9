"""The compiled per-bar loop of the engine (docs/engine.md, "Step order at each bar close").

One ``@njit`` function walks the bars once. State: basket coin holdings ``a[k]``, and per hedge
leg ``j`` the signed position ``q`` (contracts, or coins for linear legs), the average entry
``E`` and the wallet ``C`` (margin coins, or USDT for linear legs). All accounting goes through
the state-in/state-out functions of :mod:`perphedge.engine.contracts`.

Outputs are written into preallocated arrays: ``out`` (one row per output series, one column
per bar, so :mod:`perphedge.engine.simulate` can wrap it in a DataFrame without copying), the
trade and event ledgers (with counters; rows past the capacity are counted but not written, and
the caller re-runs with a larger ledger), and the attribution sums.

Compile time (a cold start, with no numba cache, compiles all of this): the helpers below are
``register_jitable``, so numba compiles them only as parts of ``run_kernel``, without the Python
entry point an ``@njit`` function gets (but once per calling context, so ``basket_value``, called
from two, stays ``@njit``); the numpy scratch arrays come from the caller.

Choices where docs/engine.md leaves room (each pinned by a test under tests/engine/):

- The attribution runs from the capital: it adds up to ``equity_hedged[-1] - capital``, the
  bar-0 purchases' and hedge opening's costs being its first fee and slippage entries (so
  ``attr_fees`` equals minus the cumulative fee column at the end).
- A target of exactly 0 closes the leg outright, whatever the band (under delta-neutral sizing
  the formula would keep a synthetic dollar against the collateral); step 5 then hands the idle
  collateral back to the basket.
- Re-hedging after a liquidation happens at the close of the bar in which it occurred (the
  first decision point after it), with the last target in force.
- Funding of a bar is paid on the position entering it even if step 1 liquidated it; what a
  liquidated leg owes is capped at what is left in its wallet.
- A state that entered the bar already past its liquidation price (possible only without margin
  management) is closed at the previous mark close, not at the stale ``P_liq``; a wallet left
  negative by the close is floored at 0 (the exchange absorbs it) and the difference booked
  under ``hedge_price``.
- The opening-margin cap (band top times the margin balance after the trade's fee) applies
  always; with margin management on, a growth it would cut is funded first by a top-up to the
  target leverage at the same close, recorded before the trade.
- Top-ups and withdrawals move the basket's own holding of the margin coin across without a
  trade; the other coins are sold (bought) pro rata to their current values. Linear legs' USDT
  needs no second spot trade.
- With no position, leverage is 0: below a positive band floor, the whole wallet goes back to
  the basket; a hedge reopened later is funded by step 5 right after the trade.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.extending import register_jitable

from perphedge.engine.basket import rebalanced_value, weights_drifted
from perphedge.engine.contracts import (
    account_coin_exposure,
    apply_trade_inverse,
    apply_trade_linear,
    funding_received,
    inverse_liq_price_short,
    inverse_notional_coin,
    inverse_upnl,
    linear_liq_price_short,
    linear_maintenance,
    linear_upnl,
    maintenance_requirement,
    margin_balance,
    spot_buy_usd,
    spot_sell_coins,
)

# ---- layout of ``out`` (rows) -----------------------------------------------------------------
ROW_EQUITY = 0
ROW_UNHEDGED = 1  # filled by simulate (counterfactual)
ROW_BASKET = 2
ROW_CASH = 3
ROW_FEES_CUM = 4
ROW_SLIP_CUM = 5
ROW_FUND_CUM = 6
N_BAR_ROWS = 7
BAR_ROW_NAMES = (
    "equity_hedged",
    "equity_unhedged",
    "basket_value",
    "cash",
    "fees_cum_usd",
    "slippage_cum_usd",
    "funding_cum_usd",
)
# per leg j: row N_BAR_ROWS + j * N_LEG_FIELDS + field
F_COLL_COIN = 0
F_COLL_USD = 1
F_CONTRACTS = 2
F_ENTRY = 3
F_UPNL = 4
F_TARGET = 5
F_ACTUAL = 6
F_LEVERAGE = 7
F_MARGIN_RATIO = 8
F_LIQ_PRICE = 9
F_LIQ_DIST = 10
F_FUND_CUM = 11
N_LEG_FIELDS = 12
LEG_FIELD_NAMES = (
    "collateral_coin",
    "collateral_usd",
    "contracts",
    "entry_price",
    "upnl_coin",
    "target_ratio",
    "actual_ratio",
    "leverage",
    "margin_ratio",
    "liq_price",
    "liq_distance",
    "funding_cum_usd",
)
# then one row per basket coin: units held (row N_BAR_ROWS + J * N_LEG_FIELDS + k)

# ---- ledgers ----------------------------------------------------------------------------------
# trades: t, id (coin k, or leg j), instrument, side (+1 buy / -1 sell), qty, price, fee_usd,
#         slippage_usd (both positive costs), reason
INSTR_SPOT = 0  # basket coin k
INSTR_INVERSE = 1  # leg j
INSTR_LINEAR = 2  # leg j
INSTR_MARGIN_SPOT = 3  # spot trade of leg j's margin coin
REASON_INITIAL = 0
REASON_REBALANCE = 1
REASON_LIQUIDATION = 2
REASON_TOPUP = 3
REASON_WITHDRAW = 4
REASON_BASKET = 5  # basket brought back to its weights (basket.rebalance)
N_TRADE_COLS = 9
# events: t, kind, leg, coins, usd, price, contracts, target, actual
EV_REBALANCE = 0
EV_FUNDING = 1
EV_TOPUP = 2
EV_WITHDRAW = 3
EV_LIQUIDATION = 4
N_EVENT_COLS = 9
# attribution sums (USD)
A_SPOT = 0
A_HEDGE = 1
A_FUNDING = 2
A_FEES = 3
A_SLIP = 4
A_COLL = 5
N_ATTR = 6
ATTR_NAMES = ("spot", "hedge_price", "funding", "fees", "slippage", "collateral_reval")
# scratch rows of ``work`` (per leg j)
W_TARGET = 0  # target ratio in force
W_FUND = 1  # cumulative funding, USD
W_Q_ENTER = 2  # position entering the bar
W_LIQUIDATED = 3  # 1.0 if liquidated in this bar, else 0.0
N_WORK_ROWS = 4


# One ledger writer for both ledgers (nine float columns each, as listed above), compiled once
# at import with an explicit signature, whatever literal codes the call sites pass.
_LEDGER_SIG = "int64(float64[:, ::1], int64, " + ", ".join(["float64"] * 9) + ")"


@njit(_LEDGER_SIG, cache=True)
def _rec_row(led, n, c0, c1, c2, c3, c4, c5, c6, c7, c8):
    """Write row ``n`` of a ledger if it fits; returns ``n + 1`` (the count goes on past the end)."""
    if n < led.shape[0]:
        led[n, 0] = c0
        led[n, 1] = c1
        led[n, 2] = c2
        led[n, 3] = c3
        led[n, 4] = c4
        led[n, 5] = c5
        led[n, 6] = c6
        led[n, 7] = c7
        led[n, 8] = c8
    return n + 1


_rec_trade = _rec_row  # (trades, n, t, id, instrument, side, qty, price, fee, slippage, reason)
_rec_event = _rec_row  # (events, n, t, kind, leg, coins, usd, price, contracts, target, actual)


@njit(cache=True)  # a dispatcher: one compile serves both the kernel and _collateral_out
def basket_value(a, spot, t):
    """Sum of ``a[k] * spot[t, k]``, coin 0 first (simulate._unhedged_curve adds in this order)."""
    v = 0.0
    for k in range(a.shape[0]):
        v += a[k] * spot[t, k]
    return v


@register_jitable
def covered_value(a, spot, t, cover, j):
    """USD value of the basket coins leg ``j`` covers, coin 0 first (equal to
    :func:`basket_value`, bit for bit, when the leg covers every coin)."""
    v = 0.0
    for k in range(a.shape[0]):
        if cover[j, k]:
            v += a[k] * spot[t, k]
    return v


@register_jitable
def _upnl(inv, q, S, E, P):
    if inv:
        return inverse_upnl(q, S, E, P)
    return linear_upnl(q, E, P)


@register_jitable
def _liq_price(inv, q, S, E, C, m):
    if inv:
        return inverse_liq_price_short(q, S, E, C, m)
    return linear_liq_price_short(q, E, C, m)


@register_jitable
def _notional(inv, q, S, P):
    """Position notional in the wallet's unit (coins for inverse, USDT for linear)."""
    if inv:
        return inverse_notional_coin(q, S, P)
    return abs(q) * P


@register_jitable
def _maintenance(inv, q, S, P, m):
    if inv:
        return maintenance_requirement(q, S, P, m)
    return linear_maintenance(q, P, m)


@register_jitable
def _actual_ratio(inv, delta_neutral, q, S, E, C, P, B):
    """Hedge ratio the band compares (docs/engine.md, Sizing)."""
    if not B > 0.0:
        return math.nan
    if inv:
        if delta_neutral:
            return -account_coin_exposure(C, q, S, E) * P / B
        return -q * S / B
    return -q * P / B


@register_jitable
def _cap_by_margin(inv, qs, q, S, E, C, mk, lev_max, fill, f):
    """The exchange's initial-margin rule: a trade may grow the short only up to ``lev_max``
    times the margin balance left after the trade's own fee (none at all on an empty wallet).
    With ``n0`` the short now, the new short ``n`` must satisfy ``n*S/mk <= lev_max*(mb -
    (n - n0)*S*f/fill)`` (inverse; linear: ``n*mk <= lev_max*(mb - (n - n0)*fill*f)``).
    Reductions are never capped."""
    mb = margin_balance(C, _upnl(inv, q, S, E, mk))
    n0 = -q if q < 0.0 else 0.0
    if not mb > 0.0:
        n_max = 0.0
    elif inv:
        # written so that without a fee it is exactly floor(lev_max * mb * mk / S)
        n_max = lev_max * (mb + n0 * S * f / fill) * mk / S / (1.0 + lev_max * f * mk / fill)
        n_max = math.floor(n_max)
    else:
        n_max = lev_max * (mb + n0 * fill * f) / mk / (1.0 + lev_max * fill * f / mk)
        n_max = math.floor(n_max / S) * S
    floor_q = q if q < -n_max else -n_max
    return qs if qs > floor_q else floor_q


@register_jitable
def _leverage(inv, q, S, E, C, mk):
    """Notional over margin balance at the mark (0 when flat, inf on an empty balance)."""
    if q == 0.0:
        return 0.0
    mb = margin_balance(C, _upnl(inv, q, S, E, mk))
    if mb > 0.0:
        return _notional(inv, q, S, mk) / mb
    return math.inf


@register_jitable
def _prefund_need(inv, q, E, C, dq, fill, S, f, mk, lev_target):
    """Margin units to add before trading ``dq`` at ``fill`` so that the position after the trade
    (and its fee) sits at ``lev_target`` at the mark (<= 0: none needed)."""
    if inv:
        q2, E2, c2, _r, _f = apply_trade_inverse(q, E, C, dq, fill, S, f)
    else:
        q2, E2, c2, _r, _f = apply_trade_linear(q, E, C, dq, fill, f)
    u2 = _upnl(inv, q2, S, E2, mk)
    return _notional(inv, q2, S, mk) / lev_target - u2 - c2


@register_jitable
def _target_position(inv, delta_neutral, q, S, E, C, P, B, h):
    """Rounded target position ``q*`` (never a long): inverse whole contracts, linear lots."""
    if inv:
        if delta_neutral:
            x = account_coin_exposure(C, q, S, E)
            qs = q + (-h * B - x * P) / S
        else:
            qs = -h * B / S
        qs = math.floor(qs + 0.5)
    else:
        qs = -h * B / P
        qs = math.floor(qs / S + 0.5) * S
    if qs > 0.0:
        qs = 0.0
    return qs


@register_jitable
def _sell_basket_coin(t, k, sold, spot, s, f, trades, n_tr, reason):
    """Sell ``sold`` coins of basket coin k at bar t's close, recorded in the ledger (the
    caller updates the holding). Returns ``(usd_received, fee_usd, slip_usd, n_tr)``."""
    got, fe, sl = spot_sell_coins(sold, spot[t, k], s, f)
    n_tr = _rec_trade(
        trades, n_tr, t, k, INSTR_SPOT, -1.0, sold, spot[t, k] * (1.0 - s), fe, sl, reason
    )
    return got, fe, sl, n_tr


@register_jitable
def _buy_basket_coin(t, k, usd, a, spot, s, f, trades, n_tr, reason):
    """Spend ``usd`` on basket coin k at bar t's close, add the coins to ``a`` and record the
    trade. Returns ``(fee_usd, slip_usd, n_tr)``."""
    coins, fe, sl = spot_buy_usd(usd, spot[t, k], s, f)
    a[k] += coins
    n_tr = _rec_trade(
        trades, n_tr, t, k, INSTR_SPOT, 1.0, coins, spot[t, k] * (1.0 + s), fe, sl, reason
    )
    return fe, sl, n_tr


@register_jitable
def _collateral_in(t, j, need, a, spot, x, ks, coin_is_usd, s, f, trades, n_tr):
    """Top-up: sell basket coins pro rata and buy ``need`` units of leg j's margin asset.

    The basket's own holding of the margin coin (``ks``) moves across without trading. Returns
    ``(units_gained, fees_usd, slip_usd, n_tr)``; if the basket cannot pay for all of it, all of
    it is sold.
    """
    K = a.shape[0]
    direct = a[ks] if ks >= 0 else 0.0
    v_other = 0.0
    for k in range(K):
        if k != ks:
            v_other += a[k] * spot[t, k]
    if coin_is_usd:
        per_usd = (1.0 - s) * (1.0 - f)
    else:
        per_usd = (1.0 - s) * (1.0 - f) / (x * (1.0 + s) * (1.0 + f))
    denom = direct + v_other * per_usd
    if not denom > 0.0:
        return 0.0, 0.0, 0.0, n_tr
    phi = need / denom
    if phi > 1.0:
        phi = 1.0
    usd = 0.0
    fees = 0.0
    slip = 0.0
    for k in range(K):
        if k == ks:
            continue
        sold = phi * a[k]
        if sold > 0.0:
            got, fe, sl, n_tr = _sell_basket_coin(
                t, k, sold, spot, s, f, trades, n_tr, REASON_TOPUP
            )
            a[k] = 0.0 if phi == 1.0 else a[k] - sold
            usd += got
            fees += fe
            slip += sl
    gained = 0.0
    if ks >= 0:
        moved = phi * a[ks]
        a[ks] = 0.0 if phi == 1.0 else a[ks] - moved
        gained += moved
    if usd > 0.0:
        if coin_is_usd:
            gained += usd
        else:
            coins, fe, sl = spot_buy_usd(usd, x, s, f)
            gained += coins
            fees += fe
            slip += sl
            n_tr = _rec_trade(
                trades, n_tr, t, j, INSTR_MARGIN_SPOT, 1.0, coins, x * (1.0 + s), fe, sl,
                REASON_TOPUP,
            )  # fmt: skip
    return gained, fees, slip, n_tr


@register_jitable
def _collateral_out(t, j, excess, a, spot, x, ks, coin_is_usd, weights, s, f, trades, n_tr):
    """Withdrawal: sell ``excess`` units of leg j's margin asset and buy the basket pro rata.

    Pro rata to the current holdings' values (the target weights if the basket is empty); the
    basket's share of the margin coin itself moves across without trading. Returns
    ``(fees_usd, slip_usd, n_tr)``.
    """
    K = a.shape[0]
    B = basket_value(a, spot, t)
    sh_ks = 0.0
    if ks >= 0:
        sh_ks = a[ks] * spot[t, ks] / B if B > 0.0 else weights[ks]
    direct = excess * sh_ks
    if ks >= 0:
        a[ks] += direct
    sold = excess - direct
    fees = 0.0
    slip = 0.0
    rest = 1.0 - sh_ks
    if sold > 0.0 and rest > 0.0:
        if coin_is_usd:
            usd = sold
        else:
            usd, fe, sl = spot_sell_coins(sold, x, s, f)
            fees += fe
            slip += sl
            n_tr = _rec_trade(
                trades, n_tr, t, j, INSTR_MARGIN_SPOT, -1.0, sold, x * (1.0 - s), fe, sl,
                REASON_WITHDRAW,
            )  # fmt: skip
        for k in range(K):
            if k == ks:
                continue
            sh = a[k] * spot[t, k] / B if B > 0.0 else weights[k]
            if sh > 0.0:
                fe, sl, n_tr = _buy_basket_coin(
                    t, k, usd * sh / rest, a, spot, s, f, trades, n_tr, REASON_WITHDRAW
                )
                fees += fe
                slip += sl
    return fees, slip, n_tr


@register_jitable
def _rebalance_basket(t, a, spot, weights, s, f, vals, trades, n_tr):
    """Trade the basket back to ``weights`` at bar ``t``'s close: sell the overweight coins,
    spend the proceeds on the underweight ones in proportion to what each lacks (so the cash
    balances exactly). ``vals`` is (K,) scratch. Returns ``(fees_usd, slip_usd, n_tr)``."""
    K = a.shape[0]
    for k in range(K):
        vals[k] = a[k] * spot[t, k]
    vp = rebalanced_value(vals, weights, s, f)
    usd = 0.0
    fees = 0.0
    slip = 0.0
    need = 0.0
    for k in range(K):
        excess = vals[k] - weights[k] * vp
        if excess > 0.0:
            sold = excess / spot[t, k]
            got, fe, sl, n_tr = _sell_basket_coin(
                t, k, sold, spot, s, f, trades, n_tr, REASON_BASKET
            )
            a[k] -= sold
            usd += got
            fees += fe
            slip += sl
        elif excess < 0.0:
            need -= excess
    if not (usd > 0.0 and need > 0.0):
        return fees, slip, n_tr
    for k in range(K):
        lack = weights[k] * vp - vals[k]
        if lack > 0.0:
            fe, sl, n_tr = _buy_basket_coin(
                t, k, usd * lack / need, a, spot, s, f, trades, n_tr, REASON_BASKET
            )
            fees += fe
            slip += sl
    return fees, slip, n_tr


@njit(cache=True)
def run_kernel(
    times,  # (T,) int64 bar open ns
    bar_ns,  # int
    every_ns,  # int rebalance period
    spot,  # (T, K)
    mark_c,  # (T, J)
    mark_h,  # (T, J)
    trade_c,  # (T, J)
    coin_usd,  # (T, J)
    fpu,  # (T, J) funding received per unit of short
    frate,  # (T, J) sum of funding rates in the bar
    fev,  # (T, J) number of funding events in the bar
    targets,  # (T, J) target ratio per leg, NaN = keep
    inverse,  # (J,) bool
    S,  # (J,) contract size (inverse) / lot step (linear)
    mm,  # (J,) maintenance margin rate
    fee,  # (J,) taker fee
    fliq,  # (J,) liquidation fee
    slip,  # (J,) perp slippage
    leg_coin,  # (J,) int64 basket index of the margin coin, -1 if none
    weights,  # (K,)
    cover,  # (J, K) bool: leg j sizes against coin k's value
    basket_every_ns,  # int basket rebalance period; 0 = buy and hold
    basket_band,  # rebalance the basket only when a weight is off by more than this
    vals,  # (K,) scratch for the basket rebalance
    spot_fee,
    spot_slip,
    delta_neutral,  # bool
    manage_margin,  # bool
    lev_lo,
    lev_hi,
    lev_target,
    band,
    min_trade,
    rehedge,  # bool
    a,  # (K,) basket holdings after the bar-0 allocation; updated in place
    C,  # (J,) wallets after the bar-0 allocation; updated in place
    q,  # (J,) signed positions, 0 (flat) on entry; updated in place
    E,  # (J,) average entries, NaN on entry; updated in place
    work,  # (N_WORK_ROWS, J) scratch, any contents (see the W_* rows)
    fees0,  # USD fees of the bar-0 spot purchases (seed of the cumulative column)
    slip0,  # USD slippage of the bar-0 spot purchases
    out,  # (rows, T) outputs, see the row layout above
    trades,  # (cap, N_TRADE_COLS)
    n_tr,  # trades already in the ledger (the bar-0 spot purchases)
    events,  # (cap, N_EVENT_COLS)
    attr,  # (N_ATTR,) attribution sums, USD
):
    """Run the bar loop; returns ``(n_trades, n_events)`` (may exceed the ledger capacities)."""
    T = times.shape[0]
    K = a.shape[0]
    J = C.shape[0]
    # Scratch rows come from the caller: allocating here would compile numpy's allocators too.
    cur_tgt = work[W_TARGET]
    fund_leg = work[W_FUND]
    q_enter = work[W_Q_ENTER]
    liq_now = work[W_LIQUIDATED]
    for j in range(J):
        cur_tgt[j] = math.nan
        fund_leg[j] = 0.0
    fees_cum = fees0
    slip_cum = slip0
    fund_cum = 0.0
    n_ev = np.int64(0)  # int64 from the start: a literal 0 costs numba's type inference two passes
    # Rebalance times are aligned to the bar grid's own phase: 0 (the UTC epoch) for bars of a
    # day or less, Monday for weekly bars, whose closes would never fall on an epoch multiple.
    phase = times[0] % bar_ns if T > 0 else 0
    for t in range(T):
        for j in range(J):
            liq_now[j] = 0.0
            q_enter[j] = q[j]
        if t > 0:
            # Attribution of the bar's price move, with the state entering the bar fixed.
            for k in range(K):
                attr[A_SPOT] += a[k] * (spot[t, k] - spot[t - 1, k])
            for j in range(J):
                x0 = coin_usd[t - 1, j]
                x1 = coin_usd[t, j]
                attr[A_COLL] += C[j] * (x1 - x0)
                u0 = _upnl(inverse[j], q[j], S[j], E[j], mark_c[t - 1, j])
                u1 = _upnl(inverse[j], q[j], S[j], E[j], mark_c[t, j])
                attr[A_HEDGE] += u1 * x1 - u0 * x0

            # (1) Liquidation check against the bar's adverse mark extreme (the high, for a
            #     short), with the state entering the bar; close all at P_liq, no slippage.
            for j in range(J):
                if q[j] >= 0.0:
                    continue
                pl = _liq_price(inverse[j], q[j], S[j], E[j], C[j], mm[j])
                if math.isnan(pl) or mark_h[t, j] < pl:
                    continue
                # A state that entered the bar already past P_liq is closed at the previous mark.
                fill = max(pl, mark_c[t - 1, j])
                x1 = coin_usd[t, j]
                mk = mark_c[t, j]
                n_closed = -q[j]
                if inverse[j]:
                    q2, E2, c2, _r, _f = apply_trade_inverse(
                        q[j], E[j], C[j], n_closed, fill, S[j], 0.0
                    )
                    attr[A_HEDGE] += n_closed * S[j] * (1.0 / fill - 1.0 / mk) * x1
                    lfee = fliq[j] * n_closed * S[j] / fill
                else:
                    q2, E2, c2, _r, _f = apply_trade_linear(q[j], E[j], C[j], n_closed, fill, 0.0)
                    attr[A_HEDGE] += n_closed * (mk - fill) * x1
                    lfee = fliq[j] * n_closed * fill
                if c2 < 0.0:  # bankrupt: the wallet never goes negative (exchange absorbs it)
                    attr[A_HEDGE] += -c2 * x1
                    c2 = 0.0
                if lfee > c2:  # the liquidation fee takes at most what is left
                    lfee = c2
                c2 -= lfee
                attr[A_FEES] -= lfee * x1
                fees_cum += lfee * x1
                q[j] = q2
                E[j] = E2
                C[j] = c2
                liq_now[j] = 1.0
                instr = INSTR_INVERSE if inverse[j] else INSTR_LINEAR
                n_tr = _rec_trade(
                    trades, n_tr, t, j, instr, 1.0, n_closed, fill, lfee * x1, 0.0,
                    REASON_LIQUIDATION,
                )  # fmt: skip
                n_ev = _rec_event(
                    events, n_ev, t, EV_LIQUIDATION, j, lfee, lfee * x1, fill, n_closed, cur_tgt[j],
                    math.nan,
                )  # fmt: skip

            # (2) Mark to market at the close: values are computed from the state and this
            #     bar's closes (spot, mark, margin coin) wherever they are needed below.

            # (3) Funding for the events in the bar, on the position ENTERING the bar.
            for j in range(J):
                if fev[t, j] > 0 and q_enter[j] != 0.0:
                    got = funding_received(q_enter[j], fpu[t, j])
                    if liq_now[j] == 1.0 and C[j] + got < 0.0:
                        # liquidated in this bar: what it owes is capped at what is left
                        got = -C[j] if C[j] > 0.0 else 0.0
                    C[j] += got
                    usd = got * coin_usd[t, j]
                    attr[A_FUNDING] += usd
                    fund_leg[j] += usd
                    fund_cum += usd
                    n_ev = _rec_event(
                        events, n_ev, t, EV_FUNDING, j, got, usd, mark_c[t, j], q_enter[j],
                        frate[t, j], math.nan,
                    )  # fmt: skip

        # (3b) Basket rebalance at its calendar points (aligned like the hedge's), only when a
        #      weight has drifted more than the band: spot trades with fees and slippage, before
        #      the hedge decision, so the hedge sizes on the rebalanced basket.
        if (
            basket_every_ns > 0
            and t > 0
            and (times[t] + bar_ns - phase) % basket_every_ns == 0
            and weights_drifted(a, spot, t, weights, basket_band)
        ):
            fe, sl, n_tr = _rebalance_basket(
                t, a, spot, weights, spot_slip, spot_fee, vals, trades, n_tr
            )
            attr[A_FEES] -= fe
            attr[A_SLIP] -= sl
            fees_cum += fe
            slip_cum += sl

        # (4) Hedge policy decision and trades at the close.
        scheduled = t == 0 or (times[t] + bar_ns - phase) % every_ns == 0
        for j in range(J):
            B = covered_value(a, spot, t, cover, j)  # the value this leg hedges
            h = targets[t, j]
            if not math.isnan(h):
                cur_tgt[j] = h
            if rehedge and liq_now[j] == 1.0:
                h = cur_tgt[j]  # re-hedge to the target in force, even where this row is NaN
            elif not scheduled:
                continue
            if math.isnan(h):
                continue  # NaN: keep the current hedge
            P = trade_c[t, j]
            mk = mark_c[t, j]
            x1 = coin_usd[t, j]
            inv = inverse[j]
            actual = _actual_ratio(inv, delta_neutral, q[j], S[j], E[j], C[j], P, B)
            if h == 0.0:
                # A zero target means no hedge at all: close the short outright (delta-neutral
                # sizing would otherwise keep a synthetic dollar against the collateral), band
                # or not; step 5 then returns the idle collateral to the basket.
                qs = 0.0
            else:
                qs = _target_position(inv, delta_neutral, q[j], S[j], E[j], C[j], P, B, h)
                fl = P * (1.0 + slip[j]) if qs > q[j] else P * (1.0 - slip[j])
                qc = _cap_by_margin(inv, qs, q[j], S[j], E[j], C[j], mk, lev_hi, fl, fee[j])
                trades_now = math.isnan(actual) or abs(actual - h) > band
                grow_usd = abs(qs - q[j]) * S[j] if inv else abs(qs - q[j]) * P
                if manage_margin and qc > qs and trades_now and not grow_usd < min_trade:
                    # The order needs margin first: move collateral in (as step 5 would) so the
                    # target opens at the target leverage after its fee, then trade.
                    need = _prefund_need(inv, q[j], E[j], C[j], qs - q[j], fl, S[j], fee[j], mk,
                                         lev_target)  # fmt: skip
                    if need > 0.0:
                        lev0 = _leverage(inv, q[j], S[j], E[j], C[j], mk)
                        got, fe, sl, n_tr = _collateral_in(
                            t, j, need, a, spot, x1, leg_coin[j], not inv, spot_slip, spot_fee,
                            trades, n_tr,
                        )  # fmt: skip
                        if got > 0.0:
                            C[j] += got
                            attr[A_FEES] -= fe
                            attr[A_SLIP] -= sl
                            fees_cum += fe
                            slip_cum += sl
                            n_ev = _rec_event(
                                events, n_ev, t, EV_TOPUP, j, got, got * x1, x1, q[j], lev_target,
                                lev0,
                            )  # fmt: skip
                            qc = _cap_by_margin(
                                inv, qs, q[j], S[j], E[j], C[j], mk, lev_hi, fl, fee[j]
                            )
                qs = qc
            dq = qs - q[j]
            if dq == 0.0:
                continue
            if h != 0.0 and not math.isnan(actual) and not abs(actual - h) > band:
                continue
            size_usd = abs(dq) * S[j] if inv else abs(dq) * P
            if size_usd < min_trade:
                continue
            fill = P * (1.0 + slip[j]) if dq > 0.0 else P * (1.0 - slip[j])
            if inv:
                q2, E2, c2, _r, tfee = apply_trade_inverse(q[j], E[j], C[j], dq, fill, S[j], fee[j])
                attr[A_HEDGE] += dq * S[j] * (1.0 / P - 1.0 / mk) * x1
                sl_usd = dq * S[j] * (1.0 / fill - 1.0 / P) * x1
                instr = INSTR_INVERSE
            else:
                q2, E2, c2, _r, tfee = apply_trade_linear(q[j], E[j], C[j], dq, fill, fee[j])
                attr[A_HEDGE] += dq * (mk - P) * x1
                sl_usd = dq * (P - fill) * x1
                instr = INSTR_LINEAR
            attr[A_SLIP] += sl_usd
            attr[A_FEES] -= tfee * x1
            fees_cum += tfee * x1
            slip_cum -= sl_usd
            q[j] = q2
            E[j] = E2
            C[j] = c2
            side = 1.0 if dq > 0.0 else -1.0
            n_tr = _rec_trade(
                trades, n_tr, t, j, instr, side, abs(dq), fill, tfee * x1, -sl_usd,
                REASON_REBALANCE,
            )  # fmt: skip
            moved_units = dq * S[j] / fill if inv else dq
            n_ev = _rec_event(
                events, n_ev, t, EV_REBALANCE, j, moved_units, size_usd, fill, dq, h, actual
            )

        # (5) Collateral management: restore lev_target when leverage leaves the band.
        if manage_margin:
            for j in range(J):
                inv = inverse[j]
                mk = mark_c[t, j]
                x1 = coin_usd[t, j]
                u = _upnl(inv, q[j], S[j], E[j], mk)
                mb = margin_balance(C[j], u)
                notional = _notional(inv, q[j], S[j], mk)
                if q[j] == 0.0:
                    lev = 0.0
                elif mb > 0.0:
                    lev = notional / mb
                else:
                    lev = math.inf
                if lev_lo <= lev <= lev_hi:
                    continue
                c_target = notional / lev_target - u
                delta = c_target - C[j]
                if delta > 0.0:
                    got, fe, sl, n_tr = _collateral_in(
                        t, j, delta, a, spot, x1, leg_coin[j], not inv, spot_slip, spot_fee,
                        trades, n_tr,
                    )  # fmt: skip
                    if got == 0.0:
                        continue
                    C[j] += got
                    kind = EV_TOPUP
                    moved = got
                elif delta < 0.0:
                    excess = -delta
                    if excess > C[j]:
                        excess = C[j]
                    if not excess > 0.0:
                        continue
                    fe, sl, n_tr = _collateral_out(
                        t, j, excess, a, spot, x1, leg_coin[j], not inv, weights, spot_slip,
                        spot_fee, trades, n_tr,
                    )  # fmt: skip
                    C[j] -= excess
                    kind = EV_WITHDRAW
                    moved = -excess
                else:
                    continue
                attr[A_FEES] -= fe
                attr[A_SLIP] -= sl
                fees_cum += fe
                slip_cum += sl
                n_ev = _rec_event(
                    events, n_ev, t, kind, j, moved, moved * x1, x1, q[j], lev_target, lev
                )

        # Outputs at the close, after all steps.
        B = basket_value(a, spot, t)
        eq = B
        base = N_BAR_ROWS
        for j in range(J):
            inv = inverse[j]
            mk = mark_c[t, j]
            x1 = coin_usd[t, j]
            u = _upnl(inv, q[j], S[j], E[j], mk)
            mb = margin_balance(C[j], u)
            eq += mb * x1
            r = base + j * N_LEG_FIELDS
            out[r + F_COLL_COIN, t] = C[j]
            out[r + F_COLL_USD, t] = C[j] * x1
            out[r + F_CONTRACTS, t] = q[j]
            out[r + F_ENTRY, t] = E[j]
            out[r + F_UPNL, t] = u
            out[r + F_TARGET, t] = cur_tgt[j]
            out[r + F_ACTUAL, t] = _actual_ratio(
                inv, delta_neutral, q[j], S[j], E[j], C[j], trade_c[t, j],
                covered_value(a, spot, t, cover, j),
            )  # fmt: skip
            if q[j] == 0.0:
                out[r + F_LEVERAGE, t] = 0.0
                out[r + F_MARGIN_RATIO, t] = 0.0
            elif mb > 0.0:
                out[r + F_LEVERAGE, t] = _notional(inv, q[j], S[j], mk) / mb
                out[r + F_MARGIN_RATIO, t] = _maintenance(inv, q[j], S[j], mk, mm[j]) / mb
            else:
                out[r + F_LEVERAGE, t] = math.inf
                out[r + F_MARGIN_RATIO, t] = math.inf
            pl = _liq_price(inv, q[j], S[j], E[j], C[j], mm[j])
            out[r + F_LIQ_PRICE, t] = pl
            out[r + F_LIQ_DIST, t] = pl / mk - 1.0
            out[r + F_FUND_CUM, t] = fund_leg[j]
        out[ROW_EQUITY, t] = eq
        out[ROW_BASKET, t] = B
        out[ROW_CASH, t] = 0.0
        out[ROW_FEES_CUM, t] = fees_cum
        out[ROW_SLIP_CUM, t] = slip_cum
        out[ROW_FUND_CUM, t] = fund_cum
        ub = base + J * N_LEG_FIELDS
        for k in range(K):
            out[ub + k, t] = a[k]
    return n_tr, n_ev
