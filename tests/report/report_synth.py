"""A synthetic but realistic Result for the report tests (no engine needed).

Prices are a seeded random walk; the hedge follows docs/engine.md's inverse formulas closely
enough for charts and tables to look like a real run: a daily-rebalanced short of an inverse
ETH perp with coin collateral, 8-hourly funding, top-ups, an optional forced liquidation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perphedge.engine.types import Result

HOUR_NS = 3_600 * 10**9


def _daily_metrics(eq: pd.Series) -> dict[str, float]:
    daily = eq.resample("1D").last().dropna()
    rets = daily.pct_change().dropna()
    years = max((eq.index[-1] - eq.index[0]).total_seconds() / (365 * 86400), 1e-9)
    total = float(eq.iloc[-1] / eq.iloc[0] - 1)
    vol = float(rets.std() * np.sqrt(365)) if len(rets) > 1 else float("nan")
    mean = float(rets.mean() * 365) if len(rets) else float("nan")
    down = rets[rets < 0]
    dd = eq / eq.cummax() - 1
    return {
        "total_return": total,
        "cagr": float((1 + total) ** (1 / years) - 1),
        "volatility": vol,
        "sharpe": mean / vol if vol and vol == vol else float("nan"),
        "sortino": mean / float(down.std() * np.sqrt(365)) if len(down) > 1 else float("nan"),
        "max_drawdown": float(dd.min()),
        "max_drawdown_days": float(((dd < 0).sum()) / 24.0),
        "final_equity": float(eq.iloc[-1]),
    }


def make_result(
    n_bars: int = 24 * 150,
    *,
    n_legs: int = 1,
    seed: int = 7,
    liquidation_at: int | None = None,
    trades: bool = True,
    name: str = "eth_l1_basket",
) -> Result:
    """Build a Result with every column of docs/engine.md, trades, events, metrics and meta."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2023-01-01", periods=n_bars, freq="1h", tz="UTC", unit="ns")
    times.name = "timestamp"
    eth_ret = rng.normal(0.0, 0.6 / np.sqrt(24 * 365), n_bars)
    eth_ret[0] = 0.0
    if liquidation_at is not None:
        eth_ret[liquidation_at] = 0.6  # a violent squeeze that liquidates the short
    eth = 1200.0 * np.exp(np.cumsum(eth_ret))
    idio = rng.normal(0.0, 0.3 / np.sqrt(24 * 365), n_bars)
    idio[0] = 0.0
    basket_idx = np.exp(np.cumsum(1.2 * eth_ret + idio))

    capital = 10_000.0
    S, m, fee, slip = 10.0, 0.005, 0.0005, 0.0002
    weights = np.arange(n_legs, 0, -1, dtype=float) / (n_legs * (n_legs + 1) / 2)
    coll_usd0 = 2_200.0
    basket0 = capital - coll_usd0
    basket_value = basket0 * basket_idx
    unhedged = capital * basket_idx

    cols: dict[str, np.ndarray] = {}
    tr_rows: list[dict] = []
    ev_rows: list[dict] = []
    fees_cum = np.zeros(n_bars)
    slip_cum = np.zeros(n_bars)
    fund_cum_all = np.zeros(n_bars)
    hedge_pnl_total = np.zeros(n_bars)
    coll_total = np.zeros(n_bars)
    for j in range(n_legs):
        mark = eth * (1 + 0.0002 * j)
        C = coll_usd0 * weights[j] / mark[0]
        N = 0.0
        E = np.nan
        fcum = 0.0
        arrs = {
            k: np.full(n_bars, np.nan)
            for k in [
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
            ]
        }
        for t in range(n_bars):
            P = mark[t]
            if N > 0 and liquidation_at is not None and t == liquidation_at:
                liq_fee = 0.005 * N * S / P
                C = max(C + N * S * (1 / P - 1 / E) - liq_fee, 0.0)
                ev_rows.append(
                    {
                        "time": times[t],
                        "kind": "liquidation",
                        "leg": j,
                        "coins": N * S / P,
                        "usd": N * S,
                        "price": P,
                    }
                )
                fees_cum[t:] += liq_fee * P
                N, E = 0.0, np.nan
            if N > 0 and t % 8 == 0:
                r = 1e-4 + rng.normal(0, 5e-5)
                got = N * S * r
                C += got / P
                fcum += got
                ev_rows.append(
                    {
                        "time": times[t],
                        "kind": "funding",
                        "leg": j,
                        "coins": got / P,
                        "usd": got,
                        "price": P,
                    }
                )
            h = weights[j] * (0.85 + 0.1 * np.sin(t / (24 * 20)))
            if t % 24 == 0 and trades:
                target_n = round((C * P + h * basket_value[t]) / S)
                d = target_n - N
                if d != 0:
                    fill = P * (1 - slip) if d > 0 else P * (1 + slip)
                    if N > 0:
                        C += N * S * (1 / P - 1 / E)  # realise to keep the toy simple
                    fee_c = abs(d) * S / fill * fee
                    C -= fee_c
                    fees_cum[t:] += fee_c * P
                    slip_cum[t:] += abs(d) * S * slip
                    N, E = float(target_n), P
                    tr_rows.append(
                        {
                            "time": times[t],
                            "leg_or_coin": f"binance ETH/USD:ETH #{j}",
                            "instrument": "perp",
                            "side": "sell" if d > 0 else "buy",
                            "qty": float(abs(d)),
                            "price": fill,
                            "fee_usd": fee_c * P,
                            "slippage_usd": abs(d) * S * slip,
                            "reason": "rebalance",
                        }
                    )
                    ev_rows.append(
                        {
                            "time": times[t],
                            "kind": "rebalance",
                            "leg": j,
                            "coins": np.nan,
                            "usd": abs(d) * S,
                            "price": fill,
                        }
                    )
            U = N * S * (1 / P - 1 / E) if N > 0 else 0.0
            bal = C + U
            lev = N * S / P / bal if bal > 0 else np.nan
            if N > 0 and lev > 5.0:
                add = N * S / P / 3.0 - bal
                C += add
                ev_rows.append(
                    {
                        "time": times[t],
                        "kind": "topup",
                        "leg": j,
                        "coins": add,
                        "usd": add * P,
                        "price": P,
                    }
                )
                bal = C + U
                lev = N * S / P / bal
            if N > 0:
                denom = N * S / E - C
                liq = N * S * (1 - m) / denom if denom > 0 else np.nan
            else:
                liq = np.nan
            arrs["collateral_coin"][t] = C
            arrs["collateral_usd"][t] = C * P
            arrs["contracts"][t] = N
            arrs["entry_price"][t] = E
            arrs["upnl_coin"][t] = U
            arrs["target_ratio"][t] = h
            arrs["actual_ratio"][t] = (N * S - C * P) / basket_value[t]
            arrs["leverage"][t] = lev if N > 0 else 0.0
            arrs["margin_ratio"][t] = m * lev if N > 0 else 0.0
            arrs["liq_price"][t] = liq
            arrs["liq_distance"][t] = liq / P - 1 if liq == liq else np.nan
            arrs["funding_cum_usd"][t] = fcum
            hedge_pnl_total[t] += U * P
            coll_total[t] += C * P
        for k, v in arrs.items():
            cols[f"{k}_{j}"] = v
        fund_cum_all += arrs["funding_cum_usd"]
    cash = np.zeros(n_bars)
    hedged = basket_value + coll_total + hedge_pnl_total + cash
    ts = pd.DataFrame(
        {
            "equity_hedged": hedged,
            "equity_unhedged": unhedged,
            "basket_value": basket_value,
            "cash": cash,
            **cols,
            "fees_cum_usd": fees_cum,
            "slippage_cum_usd": slip_cum,
            "funding_cum_usd": fund_cum_all,
        },
        index=times,
    )
    trades_df = pd.DataFrame(
        tr_rows,
        columns=[
            "time",
            "leg_or_coin",
            "instrument",
            "side",
            "qty",
            "price",
            "fee_usd",
            "slippage_usd",
            "reason",
        ],
    )
    events_df = (
        pd.DataFrame(ev_rows, columns=["time", "kind", "leg", "coins", "usd", "price"])
        .sort_values(["time", "kind"], kind="stable")
        .reset_index(drop=True)
    )
    total = float(hedged[-1] - hedged[0])
    spot = float(basket_value[-1] - basket_value[0])
    funding = float(fund_cum_all[-1])
    fees_a = -float(fees_cum[-1])
    slip_a = -float(slip_cum[-1])
    coll = float(coll_total[-1] - coll_total[0]) - funding
    attribution = {
        "spot": spot,
        "hedge_price": total - spot - funding - fees_a - slip_a - coll,
        "funding": funding,
        "fees": fees_a,
        "slippage": slip_a,
        "collateral_reval": coll,
        "total": total,
    }
    metrics: dict[str, float | int | str] = {}
    for side, eq in (("hedged", hedged), ("unhedged", unhedged)):
        for k, v in _daily_metrics(pd.Series(eq, index=times)).items():
            metrics[f"{side}_{k}"] = v
    metrics.update(
        {
            "hedge_effectiveness": 0.7312,
            "funding_received_usd": funding,
            "funding_paid_usd": 0.0,
            "funding_net_usd": funding,
            "fees_usd": float(fees_cum[-1]),
            "slippage_usd": float(slip_cum[-1]),
            "n_rebalances": int(sum(e["kind"] == "rebalance" for e in ev_rows)),
            "n_trades": len(tr_rows),
            "n_topups": int(sum(e["kind"] == "topup" for e in ev_rows)),
            "n_withdrawals": 0,
            "n_liquidations": int(sum(e["kind"] == "liquidation" for e in ev_rows)),
            "max_margin_ratio": float(
                np.nanmax(ts[[f"margin_ratio_{j}" for j in range(n_legs)]].to_numpy())
            ),
            "min_liq_distance": float(
                np.nanmin(ts[[f"liq_distance_{j}" for j in range(n_legs)]].to_numpy())
            )
            if ts[[f"liq_distance_{j}" for j in range(n_legs)]].notna().any().any()
            else float("nan"),
            "mean_leverage": float(np.nanmean(ts["leverage_0"])),
            "max_leverage": float(np.nanmax(ts["leverage_0"])),
            "equity_change": total,
        }
    )
    for k, v in attribution.items():
        metrics[f"attr_{k}"] = v
    warnings = []
    if liquidation_at is not None:
        warnings.append(f"liquidation of leg 0 at {times[liquidation_at].isoformat()}")
    warnings.append("binance SOL/USDT 1h: 3 missing bars forward-filled (2023-02-11)")
    meta = {
        "name": name,
        "run_id": "20261121T100000Z-ab12cd34",
        "config_hash": "ab12cd34ef56",
        "data_fingerprint": "9f8e7d6c5b4a",
        "period": [times[0].isoformat(), times[-1].isoformat()],
        "timeframe": "1h",
        "sources": [
            {
                "path": "data/binance/spot/SOL_USDT-1h-ohlcv.parquet",
                "series": "ohlcv",
                "first": times[0].isoformat(),
                "last": times[-1].isoformat(),
                "rows": n_bars,
                "source": "binance",
            },
            {
                "path": "data/binance/swap/ETH_USD_ETH-funding.parquet",
                "series": "funding",
                "first": times[0].isoformat(),
                "last": times[-1].isoformat(),
                "rows": n_bars // 8,
                "source": "FrancyPengChoco/my-notebook",
            },
        ],
        "notes": [
            "binance ETH/USD:ETH: no mark candles; Binance spot ETH/USDT close stands in for the mark",
            "USDT taken as 1 USD",
        ],
        "warnings": warnings,
        "counterfactual": "The unhedged side holds the same 10,000 USD fully in the basket.",
        "resolved_config": {
            "name": name,
            "period": {"start": "2023-01-01", "end": "2023-06-01"},
            "capital": 10000.0,
            "basket": {"coins": ["SOL", "AVAX"], "weights": [0.5, 0.5], "exchange": "binance"},
            "hedge": {
                "legs": [{"exchange": "binance", "symbol": "ETH/USD:ETH", "kind": "inverse"}]
            },
            "policy": {"name": "rolling_beta", "params": {"window_days": 30}},
        },
        "overrides": ["fees.taker=0.0005"],
    }
    return Result(
        timeseries=ts,
        trades=trades_df,
        events=events_df,
        attribution=attribution,
        metrics=metrics,
        notes=("USDT taken as 1 USD",),
        meta=meta,
    )
