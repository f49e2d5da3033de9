"""``simulate(market, params, targets) -> Result``: validate, allocate, run the kernel, package.

The model is docs/engine.md. This module checks the inputs (one clear line per problem), does
the bar-0 allocation (basket and collateral bought at bar 0's close), runs the compiled bar loop
of :mod:`perphedge.engine.kernel`, computes the unhedged counterfactual, and builds the result
frames. It never copies the market arrays when they already are contiguous float64, so one
process can call it many times on the same :class:`MarketArrays`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from perphedge.domain import Counterfactual, InstrumentKind, SizingRule
from perphedge.engine import kernel as kn
from perphedge.engine.basket import weights_drifted
from perphedge.engine.contracts import spot_buy_usd
from perphedge.engine.types import EVENT_COLUMNS, TRADE_COLUMNS, EngineParams, MarketArrays, Result
from perphedge.errors import ConfigError, DataValidationError

ATTR_TOLERANCE = 1e-9  # relative to the equity scale

_INSTRUMENT_NAMES = pd.array(["spot", "inverse", "linear", "spot"], dtype="str")
_REASON_NAMES = pd.array(
    ["initial", "rebalance", "liquidation", "topup", "withdraw", "basket_rebalance"], dtype="str"
)
_EVENT_NAMES = pd.array(["rebalance", "funding", "topup", "withdraw", "liquidation"], dtype="str")
_SIDE_NAMES = pd.array(["sell", "buy"], dtype="str")


def _tol() -> float:
    return ATTR_TOLERANCE


class EngineInvariantError(RuntimeError):
    """An internal accounting identity failed (a bug, not a user error)."""


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------


def _f64(name: str, arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(arr)
    if a.shape != shape:
        raise DataValidationError(f"market.{name}: shape {a.shape}, expected {shape}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _first_bad(market: MarketArrays, mask: np.ndarray) -> str:
    t = int(np.argwhere(mask)[0][0])
    return str(pd.Timestamp(int(market.times[t]), tz="UTC"))


def _check_prices(market: MarketArrays, name: str, arr: np.ndarray) -> None:
    bad = ~(np.isfinite(arr) & (arr > 0.0))
    if bad.any():
        raise DataValidationError(
            f"market.{name}: non-finite or non-positive price at {_first_bad(market, bad)}"
        )


def _validate_market(market: MarketArrays) -> dict[str, np.ndarray]:
    times = np.asarray(market.times)
    if times.ndim != 1 or times.shape[0] < 1:
        raise DataValidationError("market.times: need a 1-D array with at least one bar")
    if times.dtype != np.int64:
        raise DataValidationError(f"market.times: dtype {times.dtype}, expected int64 ns")
    if int(market.bar_ns) <= 0:
        raise DataValidationError(f"market.bar_ns: {market.bar_ns} is not positive")
    if times.shape[0] > 1 and not (np.diff(times) > 0).all():
        raise DataValidationError("market.times: not strictly increasing")
    T = times.shape[0]
    K = len(market.coins)
    J = len(market.legs)
    if K < 1:
        raise DataValidationError("market.coins: the basket has no coins")
    if J < 1:
        raise DataValidationError("market.legs: no hedge legs")
    if len(market.leg_kind) != J:
        raise DataValidationError(f"market.leg_kind: {len(market.leg_kind)} kinds for {J} legs")
    arrs = {"times": np.ascontiguousarray(times)}
    arrs["spot_close"] = _f64("spot_close", market.spot_close, (T, K))
    for name in ("mark_close", "mark_high", "mark_low", "trade_close", "coin_usd"):
        arrs[name] = _f64(name, getattr(market, name), (T, J))
    for name in ("spot_close", "mark_close", "mark_high", "mark_low", "trade_close", "coin_usd"):
        _check_prices(market, name, arrs[name])
    bad = (arrs["mark_high"] < arrs["mark_close"]) | (arrs["mark_close"] < arrs["mark_low"])
    if bad.any():
        raise DataValidationError(
            f"market.mark_high/low: close outside [low, high] at {_first_bad(market, bad)}"
        )
    for name in ("funding_rate", "funding_per_unit"):
        arrs[name] = _f64(name, getattr(market, name), (T, J))
        bad = ~np.isfinite(arrs[name])
        if bad.any():
            raise DataValidationError(f"market.{name}: non-finite at {_first_bad(market, bad)}")
    ev = np.asarray(market.funding_events)
    if ev.shape != (T, J):
        raise DataValidationError(f"market.funding_events: shape {ev.shape}, expected {(T, J)}")
    arrs["funding_events"] = np.ascontiguousarray(ev, dtype=np.int64)
    if (arrs["funding_events"] < 0).any():
        raise DataValidationError("market.funding_events: negative event count")
    return arrs


def _unit_interval(path: str, value: float, *, upper: float = 1.0) -> None:
    if not (math.isfinite(value) and 0.0 <= value < upper):
        raise ConfigError(path, f"{value!r} must be in [0, {upper})")


def _validate_params(market: MarketArrays, params: EngineParams) -> np.ndarray:
    K = len(market.coins)
    J = len(market.legs)
    if not (math.isfinite(params.capital) and params.capital > 0.0):
        raise ConfigError("capital", f"{params.capital!r} must be a positive number")
    w = np.ascontiguousarray(np.asarray(params.weights, dtype=np.float64))
    if w.shape != (K,):
        raise ConfigError("basket.weights", f"{w.shape[0] if w.ndim else 0} weights for {K} coins")
    if not (np.isfinite(w).all() and (w >= 0.0).all() and abs(w.sum() - 1.0) <= 1e-9):
        raise ConfigError("basket.weights", "weights must be non-negative and sum to 1")
    if len(params.legs) != J:
        raise ConfigError("hedge.legs", f"{len(params.legs)} leg parameter sets for {J} legs")
    for j, (lp, kind) in enumerate(zip(params.legs, market.leg_kind, strict=True)):
        p = f"hedge.legs[{j}]"
        if InstrumentKind(lp.kind) is not InstrumentKind(kind):
            raise ConfigError(
                f"{p}.kind",
                f"{InstrumentKind(lp.kind).value} but the market data says {InstrumentKind(kind).value}",
            )
        if not (math.isfinite(lp.contract_size) and lp.contract_size > 0.0):
            raise ConfigError(f"{p}.contract_size", f"{lp.contract_size!r} must be positive")
        _unit_interval(f"{p}.maintenance_margin", lp.maintenance_margin)
        _unit_interval(f"{p}.taker_fee", lp.taker_fee)
        _unit_interval(f"{p}.liquidation_fee", lp.liquidation_fee)
        _unit_interval(f"{p}.slippage", lp.slippage)
    _unit_interval("spot_fee", params.spot_fee)
    _unit_interval("spot_slippage", params.spot_slippage)
    if not (math.isfinite(params.initial_leverage) and params.initial_leverage > 0.0):
        raise ConfigError("initial_leverage", f"{params.initial_leverage!r} must be positive")
    if params.collateral_usd is not None and not (
        math.isfinite(params.collateral_usd) and params.collateral_usd >= 0.0
    ):
        raise ConfigError("collateral_usd", f"{params.collateral_usd!r} must be >= 0")
    lo, hi = params.leverage_band
    tgt = params.leverage_target
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= tgt <= hi and tgt > 0.0):
        raise ConfigError(
            "leverage_band", f"need 0 <= low <= leverage_target <= high, got {lo}, {tgt}, {hi}"
        )
    every = int(params.rebalance_every_ns)
    if every <= 0 or every % int(market.bar_ns) != 0:
        raise ConfigError(
            "rebalance_every", "the rebalance period must be a positive multiple of the bar"
        )
    if not (math.isfinite(params.rebalance_band) and params.rebalance_band >= 0.0):
        raise ConfigError("rebalance_band", f"{params.rebalance_band!r} must be >= 0")
    if not (math.isfinite(params.min_trade_usd) and params.min_trade_usd >= 0.0):
        raise ConfigError("min_trade_usd", f"{params.min_trade_usd!r} must be >= 0")
    b_every = int(params.basket_rebalance_every_ns)
    if b_every < 0 or (b_every > 0 and b_every % int(market.bar_ns) != 0):
        raise ConfigError(
            "basket.rebalance.every", "the basket's period must be a positive multiple of the bar"
        )
    if not (math.isfinite(params.basket_rebalance_band) and params.basket_rebalance_band >= 0.0):
        raise ConfigError("basket.rebalance.band", f"{params.basket_rebalance_band!r} must be >= 0")
    return w


def _check_funding_units(market: MarketArrays, arrs: dict[str, np.ndarray], params) -> None:
    """funding_per_unit must be in the legs' units: S*r/mark (inverse) or r*mark (linear).

    Compared with ``rate`` and the bar's mark close (the event's own mark differs a little):
    the median ratio must be near 1, which catches a contract size that differs from the one
    the market layer used (10 vs 100 USD) or a wrong unit.
    """
    rate = arrs["funding_rate"]
    fpu = arrs["funding_per_unit"]
    mark = arrs["mark_close"]
    for j, lp in enumerate(params.legs):
        sel = np.abs(rate[:, j]) > 1e-12
        if not sel.any():
            continue
        if InstrumentKind(lp.kind) is InstrumentKind.INVERSE:
            expect = lp.contract_size * rate[sel, j] / mark[sel, j]
        else:
            expect = rate[sel, j] * mark[sel, j]
        ratio = float(np.median(fpu[sel, j] / expect))
        if not 0.5 < ratio < 2.0:
            raise DataValidationError(
                f"market.funding_per_unit: leg {market.legs[j]} is {ratio:.3g}x what its rate, "
                f"mark and contract size {lp.contract_size:g} give; units or contract size differ"
            )


def _validate_targets(market: MarketArrays, targets: np.ndarray) -> np.ndarray:
    T = market.n_bars
    J = len(market.legs)
    h = np.asarray(targets, dtype=np.float64)
    if h.ndim == 1 and J == 1:
        h = h.reshape(-1, 1)
    if h.shape != (T, J):
        raise ConfigError("targets", f"shape {h.shape}, expected {(T, J)} (bars, legs)")
    finite = np.isfinite(h)
    if (np.isinf(h)).any() or (h[finite] < 0.0).any():
        raise ConfigError("targets", "target ratios must be finite and >= 0 (NaN = keep current)")
    return np.ascontiguousarray(h)


def _validate_covers(market: MarketArrays, params: EngineParams) -> np.ndarray:
    """The (J, K) covers mask (all True when unset); every leg must cover some coin."""
    J, K = len(market.legs), len(market.coins)
    if params.covers is None:
        return np.ones((J, K), dtype=np.bool_)
    cover = np.ascontiguousarray(np.asarray(params.covers, dtype=np.bool_))
    if cover.shape != (J, K):
        raise ConfigError("hedge.legs.covers", f"shape {cover.shape}, expected {(J, K)}")
    for j in range(J):
        if not cover[j].any():
            raise ConfigError(f"hedge.legs[{j}].covers", "covers no basket coin")
    return cover


def covered_collateral_usd(
    capital: float,
    h0: np.ndarray,
    weights: np.ndarray,
    cover: np.ndarray,
    dn_inverse: np.ndarray,
    leverage: float,
    leg_coin: np.ndarray,
    from_basket: bool,
) -> np.ndarray:
    """USD of collateral per leg at entry when legs cover parts of the basket.

    Leg ``j`` hedges ``B_j``, the covered coins' value, with notional ``N_j = L * C_j``; under
    delta-neutral sizing an inverse leg also shorts its own collateral, ``N_j = h_j B_j + C_j``,
    otherwise ``N_j = h_j B_j``. Write ``d_j = L - 1`` or ``L`` respectively. Collateral bought
    with capital shrinks every coin alike, ``B_j = c_j (K - sum C)`` with ``c_j`` the covered
    weight, so ``C_j = g_j K / (1 + sum g)``, ``g_j = h_j c_j / d_j``. Collateral taken out of
    the basket comes out of the leg's own coin: ``B_j = c_j K - C_j`` when that coin is
    covered (``C_j = h_j c_j K / (d_j + h_j)``), else ``B_j = c_j K``.
    """
    J = h0.shape[0]
    c = np.array([float(weights[cover[j]].sum()) for j in range(J)])
    d = np.where(dn_inverse, leverage - 1.0, leverage)
    active = h0 > 0.0
    if (active & ~(d > 0.0)).any():
        raise ConfigError(
            "initial_leverage", f"{leverage} is too low: delta-neutral inverse legs need > 1"
        )
    out = np.zeros(J)
    if not from_basket:
        g = np.where(active, h0 * c / np.where(active, d, 1.0), 0.0)
        return g * capital / (1.0 + g.sum())
    for j in range(J):
        if not active[j]:
            continue
        own = leg_coin[j] >= 0 and bool(cover[j, leg_coin[j]])
        out[j] = h0[j] * c[j] * capital / (d[j] + h0[j] if own else d[j])
    return out


def _margin_coin(label: str, kind: InstrumentKind) -> str | None:
    """Margin coin from a ccxt-style label: ``"binance ETH/USD:ETH"`` -> ``"ETH"``."""
    if kind is InstrumentKind.LINEAR:
        return None
    sym = label.split()[-1] if label.split() else ""
    if ":" in sym:
        return sym.rsplit(":", 1)[1]
    if "/" in sym:
        return sym.split("/", 1)[0]
    return None


# ---------------------------------------------------------------------------------------------
# counterfactual
# ---------------------------------------------------------------------------------------------


def _basket_units(a, spot, times, bar_ns, params, weights):
    """(T, K) units of a basket started at ``a``: constant (buy and hold) or, with
    ``basket.rebalance``, traded back to ``weights`` at the same calendar points and under the
    same band and costs as the hedged side's basket (the kernel's step 3b)."""
    T, K = spot.shape
    units = np.empty((T, K))
    units[:] = a
    every = int(params.basket_rebalance_every_ns)
    if every <= 0 or T < 2:
        return units
    phase = int(times[0]) % bar_ns
    due = np.flatnonzero((times[1:] + bar_ns - phase) % every == 0) + 1
    cur = np.array(a, dtype=np.float64)
    sink = np.empty((0, kn.N_TRADE_COLS))  # no ledger for the counterfactual
    vals = np.empty(K)
    band = float(params.basket_rebalance_band)
    s, f = float(params.spot_slippage), float(params.spot_fee)
    for t in due:
        if weights_drifted(cur, spot, t, weights, band):
            kn._rebalance_basket(int(t), cur, spot, weights, s, f, vals, sink, 0)
            units[t:] = cur
    return units


def _unhedged_curve(a, spot, wallet, coin_usd, cash, out):
    """Buy-and-hold value: basket ``a`` + wallet coins ``wallet[j]`` + cash, per bar.

    Whole columns in numpy (no compilation on a cold start), adding in the order of
    :func:`kernel.basket_value` (from 0.0, coin 0 first), so that a zero hedge reproduces the
    kernel's equity bit for bit.
    """
    v = np.zeros(spot.shape[0])
    for k in range(a.shape[-1]):
        v += (a[:, k] if a.ndim == 2 else a[k]) * spot[:, k]
    for j in range(wallet.shape[0]):
        v += wallet[j] * coin_usd[:, j]
    np.add(v, cash, out=out)


# ---------------------------------------------------------------------------------------------
# simulate
# ---------------------------------------------------------------------------------------------


def funding_mark_used(inverse: bool, S: float, rate: float, per_unit: float) -> float:
    """The mark a bar's funding was paid at, recovered from what was paid: ``S*rate/per_unit``
    (inverse, per_unit = ``S*r/mark``) or ``per_unit/rate`` (linear, per_unit = ``r*mark``).

    With one event in the bar it is that event's mark (the record's mark price, else the bar's
    mark open); with several, the one mark that gives the same payment from the summed rate, so
    a funding row recomputes as ``coins = -contracts*S*rate/price`` (inverse) or
    ``-contracts*rate*price`` (linear). NaN where the rate or the payment is 0 (no mark matters).
    """
    if rate == 0.0 or per_unit == 0.0:
        return math.nan
    return S * rate / per_unit if inverse else per_unit / rate


def _funding_rows_priced(ev: np.ndarray, arrs: dict[str, np.ndarray], params) -> np.ndarray:
    """The event ledger with each funding row's price set to the mark used for the payment."""
    ev = ev.copy()
    for i in np.flatnonzero(ev[:, 1] == kn.EV_FUNDING):
        t, j = int(ev[i, 0]), int(ev[i, 2])
        leg = params.legs[j]
        ev[i, 5] = funding_mark_used(
            leg.kind is InstrumentKind.INVERSE,
            leg.contract_size,
            float(arrs["funding_rate"][t, j]),
            float(arrs["funding_per_unit"][t, j]),
        )
    return ev


def simulate(market: MarketArrays, params: EngineParams, targets: np.ndarray) -> Result:
    """Replay the hedged basket bar by bar (docs/engine.md) and return a :class:`Result`."""
    arrs = _validate_market(market)
    weights = _validate_params(market, params)
    h = _validate_targets(market, targets)
    _check_funding_units(market, arrs, params)
    T = market.n_bars
    K = len(market.coins)
    J = len(market.legs)
    kinds = tuple(InstrumentKind(k) for k in market.leg_kind)
    inverse = np.array([k is InstrumentKind.INVERSE for k in kinds], dtype=np.bool_)
    legs = params.legs
    notes = list(market.notes)

    # margin coin of each leg and its basket index (-1 if not held)
    coin_usd = arrs["coin_usd"]
    leg_coin = np.full(J, -1, dtype=np.int64)
    margin_names: list[str] = []
    for j in range(J):
        name = _margin_coin(market.legs[j], kinds[j])
        margin_names.append(name if name is not None else ("USDT" if not inverse[j] else "?"))
        if name is not None and name in market.coins:
            k = market.coins.index(name)
            leg_coin[j] = k
            if not np.array_equal(coin_usd[:, j], arrs["spot_close"][:, k]):
                if coin_usd is arrs["coin_usd"]:
                    coin_usd = coin_usd.copy()
                coin_usd[:, j] = arrs["spot_close"][:, k]
                notes.append(
                    f"leg {market.legs[j]}: margin coin valued at the basket's {name} spot close"
                )
        elif not inverse[j]:
            bad = coin_usd[:, j] != 1.0
            if bad.any():
                raise DataValidationError(
                    f"market.coin_usd: linear leg {market.legs[j]} must have coin_usd 1.0 (USDT)"
                )

    # ---- bar-0 allocation -------------------------------------------------------------------
    K_cap = float(params.capital)
    sf, ss = float(params.spot_fee), float(params.spot_slippage)
    # costs of putting the basket on at bar 0: none when its coins are already held
    bf, bs = (0.0, 0.0) if params.basket_held else (sf, ss)
    h0 = np.where(np.isnan(h[0]), 0.0, h[0])
    H = float(h0.sum())
    L = float(params.initial_leverage)
    dn = SizingRule(params.sizing) is SizingRule.DELTA_NEUTRAL
    cover = _validate_covers(market, params)
    coll_usd = np.zeros(J)
    if params.collateral_usd is None and not cover.all():
        coll_usd = covered_collateral_usd(
            K_cap, h0, weights, cover, inverse & dn, L, leg_coin, params.collateral_from_basket
        )
    for j in range(J):
        if params.collateral_usd is not None:
            coll_usd[j] = float(params.collateral_usd)
        elif not cover.all():
            continue
        elif h0[j] > 0.0:
            denom = (L - 1.0 + H) if (inverse[j] and dn) else (L + H)
            if not denom > 0.0:
                raise ConfigError(
                    "initial_leverage", f"{L} is too low for a first target ratio of {H}"
                )
            coll_usd[j] = h0[j] * K_cap / denom
    spot0 = arrs["spot_close"][0]
    C0 = np.zeros(J)
    a0 = np.zeros(K)
    init_rows: list[tuple[float, ...]] = []
    fees0 = 0.0
    slip0 = 0.0
    from_basket = bool(params.collateral_from_basket)
    bought = 0.0  # USD spent on collateral (kept as cash by the basket_and_cash counterfactual)
    for j in range(J):
        if not inverse[j]:
            C0[j] = coll_usd[j]  # USDT posted straight from the capital
            bought += coll_usd[j]
        elif not from_basket and coll_usd[j] > 0.0:
            coins, fe, sl = spot_buy_usd(coll_usd[j], coin_usd[0, j], ss, sf)
            C0[j] = coins
            fees0 += fe
            slip0 += sl
            bought += coll_usd[j]
            init_rows.append(
                (0, j, kn.INSTR_MARGIN_SPOT, 1, coins, coin_usd[0, j] * (1 + ss), fe, sl, 0)
            )
    basket_budget = K_cap - bought
    if not basket_budget > 0.0:
        raise ConfigError("collateral_usd", "the collateral takes all of the capital")
    for k in range(K):
        if weights[k] > 0.0:
            coins, fe, sl = spot_buy_usd(basket_budget * weights[k], spot0[k], bs, bf)
            a0[k] = coins
            fees0 += fe
            slip0 += sl
            init_rows.append((0, k, kn.INSTR_SPOT, 1, coins, spot0[k] * (1 + ss), fe, sl, 0))
    basket_initial = a0.copy()
    if from_basket:
        for j in range(J):
            if not inverse[j] or coll_usd[j] == 0.0:
                continue
            k = int(leg_coin[j])
            if k < 0:
                raise ConfigError(
                    "collateral_from_basket",
                    f"the basket does not hold {margin_names[j]}, the margin coin of "
                    f"{market.legs[j]}",
                )
            coins = coll_usd[j] / coin_usd[0, j]
            if coins > a0[k] * (1.0 + 1e-12):
                raise ConfigError(
                    "collateral_from_basket",
                    f"the basket holds {a0[k]:.6g} {margin_names[j]}, the collateral needs "
                    f"{coins:.6g}",
                )
            coins = min(coins, a0[k])
            a0[k] -= coins
            C0[j] = coins

    # ---- kernel -----------------------------------------------------------------------------
    n_rows = kn.N_BAR_ROWS + J * kn.N_LEG_FIELDS + K
    cap_tr = len(init_rows) + 2 * T * J + 8 * K + 64
    cap_ev = 2 * T * J + 64
    lev_lo, lev_hi = (float(v) for v in params.leverage_band)
    S = np.array([lp.contract_size for lp in legs], dtype=np.float64)
    mm = np.array([lp.maintenance_margin for lp in legs], dtype=np.float64)
    fee = np.array([lp.taker_fee for lp in legs], dtype=np.float64)
    fliq = np.array([lp.liquidation_fee for lp in legs], dtype=np.float64)
    slip = np.array([lp.slippage for lp in legs], dtype=np.float64)
    while True:
        out = np.empty((n_rows, T), dtype=np.float64)
        trades = np.empty((cap_tr, kn.N_TRADE_COLS), dtype=np.float64)
        for i, row in enumerate(init_rows):
            trades[i] = row
        events = np.empty((cap_ev, kn.N_EVENT_COLS), dtype=np.float64)
        attr = np.zeros(kn.N_ATTR)
        # The attribution runs from the capital: the bar-0 purchases' costs are its first entries.
        attr[kn.A_FEES] = -fees0
        attr[kn.A_SLIP] = -slip0
        a = a0.copy()
        C = C0.copy()
        q = np.zeros(J)  # flat until the kernel's first decision at bar 0's close
        E = np.full(J, np.nan)
        work = np.empty((kn.N_WORK_ROWS, J))
        n_tr, n_ev = kn.run_kernel(
            arrs["times"],
            int(market.bar_ns),
            int(params.rebalance_every_ns),
            arrs["spot_close"],
            arrs["mark_close"],
            arrs["mark_high"],
            arrs["trade_close"],
            coin_usd,
            arrs["funding_per_unit"],
            arrs["funding_rate"],
            arrs["funding_events"],
            h,
            inverse,
            S,
            mm,
            fee,
            fliq,
            slip,
            leg_coin,
            weights,
            cover,
            int(params.basket_rebalance_every_ns),
            float(params.basket_rebalance_band),
            np.empty(K),
            sf,
            ss,
            dn,
            bool(params.manage_margin),
            lev_lo,
            lev_hi,
            float(params.leverage_target),
            float(params.rebalance_band),
            float(params.min_trade_usd),
            bool(params.rehedge_after_liquidation),
            a,
            C,
            q,
            E,
            work,
            fees0,
            slip0,
            out,
            trades,
            len(init_rows),
            events,
            attr,
        )
        if n_tr <= cap_tr and n_ev <= cap_ev:
            break
        cap_tr = max(cap_tr, n_tr)
        cap_ev = max(cap_ev, n_ev)

    # ---- counterfactual ---------------------------------------------------------------------
    cf = Counterfactual(params.counterfactual)
    bar = int(market.bar_ns)
    if cf is Counterfactual.BASKET:
        a_cf = np.zeros(K)
        for k in range(K):
            if weights[k] > 0.0:
                a_cf[k] = spot_buy_usd(K_cap * weights[k], spot0[k], bs, bf)[0]
        a_cf = _basket_units(a_cf, arrs["spot_close"], arrs["times"], bar, params, weights)
        _unhedged_curve(a_cf, arrs["spot_close"], np.zeros(0), coin_usd, 0.0, out[kn.ROW_UNHEDGED])
    elif cf is Counterfactual.BASKET_AND_COLLATERAL:
        if from_basket:
            # the inverse legs' coins are inside basket_initial; a linear leg's USDT is not
            usdt = np.where(inverse, 0.0, C0)
            units = _basket_units(
                basket_initial, arrs["spot_close"], arrs["times"], bar, params, weights
            )
            _unhedged_curve(units, arrs["spot_close"], usdt, coin_usd, 0.0, out[kn.ROW_UNHEDGED])
        else:
            units = _basket_units(a0, arrs["spot_close"], arrs["times"], bar, params, weights)
            _unhedged_curve(units, arrs["spot_close"], C0, coin_usd, 0.0, out[kn.ROW_UNHEDGED])
    else:  # BASKET_AND_CASH: the collateral's USD stays cash
        cash = bought if not from_basket else float((C0 * coin_usd[0]).sum())
        units = _basket_units(a0, arrs["spot_close"], arrs["times"], bar, params, weights)
        _unhedged_curve(
            units, arrs["spot_close"], np.zeros(0), coin_usd, cash, out[kn.ROW_UNHEDGED]
        )

    # ---- attribution ------------------------------------------------------------------------
    eq = out[kn.ROW_EQUITY]
    attribution = {name: float(attr[i]) for i, name in enumerate(kn.ATTR_NAMES)}
    total = 0.0
    for name in kn.ATTR_NAMES:
        total += attribution[name]
    attribution["total"] = total
    change = float(eq[-1]) - K_cap
    scale = max(K_cap, abs(float(eq[-1])), abs(change), 1e-300)
    if not abs(total - change) <= _tol() * scale:
        raise EngineInvariantError(
            f"attribution total {total!r} differs from the equity change {change!r}"
        )

    # ---- frames -----------------------------------------------------------------------------
    index = pd.DatetimeIndex(arrs["times"].view("M8[ns]"), tz="UTC", name="timestamp")
    names = list(kn.BAR_ROW_NAMES)
    for j in range(J):
        names += [f"{f}_{j}" for f in kn.LEG_FIELD_NAMES]
    names += [f"units_{c}" for c in market.coins]
    timeseries = pd.DataFrame(out.T, index=index, columns=names, copy=False)

    # ledgers: string columns are taken from small tables of names (fast, one dtype always)
    tr = trades[:n_tr]
    ident = tr[:, 1].astype(np.int64)
    instr = tr[:, 2].astype(np.int64)
    who_table = pd.array([*market.coins, *margin_names, *market.legs], dtype="str")
    who = np.where(
        instr == kn.INSTR_SPOT,
        ident,
        np.where(instr == kn.INSTR_MARGIN_SPOT, K + ident, K + J + ident),
    )
    trades_df = pd.DataFrame(
        {
            "time": index[tr[:, 0].astype(np.int64)],
            "leg_or_coin": who_table.take(who),
            "instrument": _INSTRUMENT_NAMES.take(instr),
            "side": _SIDE_NAMES.take((tr[:, 3] > 0).astype(np.int64)),
            "qty": tr[:, 4],
            "price": tr[:, 5],
            "fee_usd": tr[:, 6],
            "slippage_usd": tr[:, 7],
            "reason": _REASON_NAMES.take(tr[:, 8].astype(np.int64)),
        },
        columns=list(TRADE_COLUMNS),
    )
    ev = _funding_rows_priced(events[:n_ev], arrs, params)
    events_df = pd.DataFrame(
        {
            "time": index[ev[:, 0].astype(np.int64)],
            "kind": _EVENT_NAMES.take(ev[:, 1].astype(np.int64)),
            "leg": pd.array(list(market.legs), dtype="str").take(ev[:, 2].astype(np.int64)),
            "coins": ev[:, 3],
            "usd": ev[:, 4],
            "price": ev[:, 5],
            "contracts": ev[:, 6],
            "target_ratio": ev[:, 7],
            "actual_ratio": ev[:, 8],
        },
        columns=list(EVENT_COLUMNS),
    )
    meta: dict[str, object] = {
        "capital": K_cap,
        "sizing": SizingRule(params.sizing).value,
        "counterfactual": cf.value,
        "margin_coins": tuple(margin_names),
        "initial_fees_usd": fees0,
        "initial_slippage_usd": slip0,
        "attribution_base": "the capital (entry costs at bar 0 are in fees and slippage)",
    }
    return Result(
        timeseries=timeseries,
        trades=trades_df,
        events=events_df,
        attribution=attribution,
        notes=tuple(notes),
        meta=meta,
    )
