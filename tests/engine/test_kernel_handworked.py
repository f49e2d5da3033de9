"""Tiny bar tables worked out by hand: balances after every bar."""

import numpy as np
import pytest
from engine_tables import HOUR, col, free_leg, make_market, make_params

from perphedge.domain import InstrumentKind, SizingRule
from perphedge.engine import simulate

REL = 1e-12


def approx(values):
    return pytest.approx(values, rel=REL, abs=1e-9)


def test_basket_only_inverse_with_funding():
    # Capital 10,000: collateral_usd 2,000 buys C = 1 ETH at 2,000; the basket gets 8,000 = 4 ETH.
    # basket_only: N*S = h*B = 8,000 -> 800 contracts of 10 USD, E = 2,000. No fees anywhere.
    # bar | price | basket | uPnL = -8000*(1/2000 - 1/P)       | wallet C        | equity
    #  0  | 2000  |  8000  |  0                                 | 1               | 8000 + 1*2000 = 10000
    #  1  | 2500  | 10000  | -8000*(0.0005-0.0004)  = -0.8 ETH  | 1               | 10000 + 0.2*2500 = 10500
    #  2  | 1600  |  6400  | -8000*(0.0005-0.000625) = +1.0 ETH | 1 + 0.0005      | 6400 + 2.0005*1600 = 9600.8
    #  3  | 2000  |  8000  |  0                                 | 1.0005          | 8000 + 1.0005*2000 = 10001
    # funding at bar 2, r = +0.0001, mark 1600: 800*10/1600*0.0001 = 0.0005 ETH = 0.8 USD received.
    m = make_market([2000, 2500, 1600, 2000], funding_rate=[0, 0, 0.0001, 0])
    p = make_params(sizing=SizingRule.BASKET_ONLY, collateral_usd=2000.0)
    r = simulate(m, p, col([1.0] * 4))
    ts = r.timeseries
    assert list(ts["basket_value"]) == approx([8000, 10000, 6400, 8000])
    assert list(ts["contracts_0"]) == [-800.0] * 4
    assert list(ts["entry_price_0"]) == [2000.0] * 4
    assert list(ts["collateral_coin_0"]) == approx([1, 1, 1.0005, 1.0005])
    assert list(ts["upnl_coin_0"]) == approx([0, -0.8, 1.0, 0])
    assert list(ts["equity_hedged"]) == approx([10000, 10500, 9600.8, 10001])
    assert list(ts["funding_cum_usd_0"]) == approx([0, 0, 0.8, 0.8])
    assert list(ts["fees_cum_usd"]) == [0.0] * 4
    # unhedged counterfactual: all 10,000 in ETH = 5 ETH
    assert list(ts["equity_unhedged"]) == approx([10000, 12500, 8000, 10000])
    # liquidation price (1-m)*N*S/(N*S/E - C) = 0.995*8000/(4 - 1) = 2653.33
    assert ts["liq_price_0"].iloc[0] == pytest.approx(7960 / 3, rel=REL)
    assert ts["liq_price_0"].iloc[2] == pytest.approx(7960 / 2.9995, rel=REL)
    # leverage = (N*S/P)/(C+U): bar 0 4/1, bar 1 3.2/0.2; margin ratio m*3.2/0.2 at bar 1
    assert ts["leverage_0"].iloc[0] == pytest.approx(4.0, rel=REL)
    assert ts["leverage_0"].iloc[1] == pytest.approx(16.0, rel=REL)
    assert ts["margin_ratio_0"].iloc[1] == pytest.approx(0.08, rel=REL)
    # basket_only actual ratio N*S/B
    assert list(ts["actual_ratio_0"]) == approx([1.0, 0.8, 1.25, 1.0])
    # attribution: spot 4*(500-900+400)=0; collateral 500-900+1.0005*400 = 0.2;
    # hedge -2000 + (1600+2000) + (0-1600) = 0; funding 0.8; total 1.0 = 10001 - 10000
    a = r.attribution
    assert a["spot"] == pytest.approx(0.0, abs=1e-9)
    assert a["collateral_reval"] == pytest.approx(0.2, rel=1e-9)
    assert a["hedge_price"] == pytest.approx(0.0, abs=1e-9)
    assert a["funding"] == pytest.approx(0.8, rel=REL)
    assert a["fees"] == 0.0 and a["slippage"] == 0.0
    assert a["total"] == pytest.approx(1.0, rel=1e-9)
    fund = r.events[r.events["kind"] == "funding"]
    assert len(fund) == 1
    assert fund["coins"].iloc[0] == pytest.approx(0.0005, rel=REL)
    assert fund["usd"].iloc[0] == pytest.approx(0.8, rel=REL)


def test_delta_neutral_inverse_with_fees_rebalancing_every_bar():
    # Capital 12,000, initial leverage 3, first target 1: C*P = h*K/(L-1+h) = 12000/3 = 4000
    # -> C = 2 ETH at 2,000; basket 8,000 = 4 ETH. Delta-neutral: N*S = C*P + h*B = 12,000 ->
    # 1,200 contracts. Taker fee 5 bp: 1200*10/2000*0.0005 = 0.003 ETH -> C = 1.997.
    # bar 0: equity 8000 + 1.997*2000 = 11994; fees 0.003*2000 = 6 USD.
    # bar 1 (2500): U = -12000*(1/2000-1/2500) = -1.2. Rebalance: X = C + q*S/E = 1.997 - 6
    #   = -4.003; q* = q + (-B - X*P)/S = -1200 + (-10000 + 10007.5)/10 = -1199.25 -> -1199.
    #   Buy 1 at 2500: realized -1*10*(1/2000-1/2500) = -0.001, fee 10/2500*0.0005 = 2e-6.
    #   C = 1.997 - 0.001 - 0.000002 = 1.995998; U = -11990*0.0001 = -1.199.
    #   equity 10000 + (1.995998 - 1.199)*2500 = 11992.495; fees 6 + 2e-6*2500 = 6.005.
    # bar 2 (1600), funding r = 1e-4 on the 1,199 entering: 1199*10/1600*1e-4 = 0.000749375
    #   -> C = 1.996747375; U = -11990*(1/2000 - 1/1600) = +1.49875. X = C - 11990/2000
    #   = -3.998252625; q* = -1199 + (-6400 + 6397.2042)/10 = -1199.28 -> -1199: no trade.
    #   equity 6400 + (1.996747375 + 1.49875)*1600 = 11992.7958.
    m = make_market([2000, 2500, 1600], funding_rate=[0, 0, 0.0001])
    p = make_params(
        capital=12_000.0,
        initial_leverage=3.0,
        legs=(free_leg(taker_fee=0.0005),),
        rebalance_every_ns=HOUR,
    )
    r = simulate(m, p, col([1.0] * 3))
    ts = r.timeseries
    assert list(ts["contracts_0"]) == [-1200.0, -1199.0, -1199.0]
    assert list(ts["collateral_coin_0"]) == approx([1.997, 1.995998, 1.996747375])
    assert list(ts["upnl_coin_0"]) == approx([0.0, -1.199, 1.49875])
    assert list(ts["basket_value"]) == approx([8000, 10000, 6400])
    assert list(ts["equity_hedged"]) == approx([11994.0, 11992.495, 11992.7958])
    assert list(ts["fees_cum_usd"]) == approx([6.0, 6.005, 6.005])
    assert list(ts["funding_cum_usd"]) == approx([0.0, 0.0, 0.000749375 * 1600])
    trades = r.trades[r.trades["instrument"] == "inverse"]
    assert list(trades["side"]) == ["sell", "buy"]
    assert list(trades["qty"]) == [1200.0, 1.0]
    a = r.attribution
    # the attribution runs from the capital: the 6 USD opening fee is in it too
    assert a["fees"] == pytest.approx(-6.005, rel=1e-9)
    assert a["funding"] == pytest.approx(1.199, rel=1e-12)
    assert a["total"] == pytest.approx(11992.7958 - 12000.0, rel=1e-9)


def test_linear_leg_usdt_collateral():
    # Capital 10,000: 2,000 USDT collateral, basket 4 ETH at 2,000; linear short q = -B/P = -4 ETH.
    # bar | P    | uPnL = -4*(P-2000) | wallet (USDT)           | equity
    #  0  | 2000 |    0               | 2000                    | 8000 + 2000 = 10000
    #  1  | 2200 | -800               | 2000 + 4*2200*1e-4=.88  | 8800 + 1200.88 = 10000.88
    #  2  | 1800 | +800               | 2000.88                 | 7200 + 2800.88 = 10000.88
    m = make_market(
        [2000, 2200, 1800],
        legs=("binance ETH/USDT:USDT",),
        kinds=(InstrumentKind.LINEAR,),
        contract_sizes=(0.001,),
        funding_rate=[0, 0.0001, 0],
    )
    p = make_params(collateral_usd=2000.0, legs=(free_leg(InstrumentKind.LINEAR, 0.001),))
    r = simulate(m, p, col([1.0] * 3))
    ts = r.timeseries
    assert list(ts["contracts_0"]) == approx([-4.0, -4.0, -4.0])
    assert list(ts["collateral_coin_0"]) == approx([2000, 2000.88, 2000.88])
    assert list(ts["collateral_usd_0"]) == approx([2000, 2000.88, 2000.88])
    assert list(ts["upnl_coin_0"]) == approx([0, -800, 800])
    assert list(ts["equity_hedged"]) == approx([10000, 10000.88, 10000.88])
    # linear liquidation price (C + N*E)/(N*(1+m)) = 10000/4.02
    assert ts["liq_price_0"].iloc[0] == pytest.approx(10000 / 4.02, rel=REL)
    assert r.attribution["funding"] == pytest.approx(0.88, rel=REL)
    assert r.attribution["collateral_reval"] == 0.0


def test_initial_allocation_with_spot_costs_and_ledger():
    # Spot fee 0.1 %, slippage 5 bp: 10,000 USD buys 10000/(2000*1.0005*1.001) ETH at fill 2001.
    m = make_market([2000, 2000])
    p = make_params(spot_fee=0.001, spot_slippage=0.0005, collateral_usd=0.0)
    r = simulate(m, p, col([0.0, 0.0]))
    coins = 10_000 / (2001.0 * 1.001)
    init = r.trades[r.trades["reason"] == "initial"]
    assert list(init["leg_or_coin"]) == ["ETH"]
    assert init["qty"].iloc[0] == pytest.approx(coins, rel=REL)
    assert init["price"].iloc[0] == pytest.approx(2001.0, rel=REL)
    assert init["fee_usd"].iloc[0] == pytest.approx(coins * 2001.0 * 0.001, rel=REL)
    assert init["slippage_usd"].iloc[0] == pytest.approx(coins * 1.0, rel=REL)
    assert r.timeseries["equity_hedged"].iloc[0] == pytest.approx(coins * 2000, rel=REL)
    assert r.meta["initial_fees_usd"] == pytest.approx(coins * 2001.0 * 0.001, rel=REL)
    assert np.isnan(r.timeseries["liq_price_0"].iloc[0])


def test_drift_band_min_trade_and_contract_rounding():
    # basket_only, 4 ETH basket, 800 contracts at 2,000; hourly rebalance times.
    # bar 1 (2010): B = 8040, actual 8000/8040 = 0.995 -> inside the 0.01 band: no trade
    # bar 2 (2100): B = 8400, actual 0.952 -> target 840: 40 contracts = 400 USD < 500: skipped
    # bar 3 (2200): B = 8800 -> 880: 80 contracts = 800 USD: traded
    m = make_market([2000, 2010, 2100, 2200])
    p = make_params(
        sizing=SizingRule.BASKET_ONLY,
        collateral_usd=2000.0,
        rebalance_every_ns=HOUR,
        rebalance_band=0.01,
        min_trade_usd=500.0,
    )
    r = simulate(m, p, col([1.0] * 4))
    assert list(r.timeseries["contracts_0"]) == [-800.0, -800.0, -800.0, -880.0]
    assert list(r.timeseries["actual_ratio_0"]) == approx([1.0, 8000 / 8040, 8000 / 8400, 1.0])
    # rounding to whole contracts: B = 4*2001.3 = 8005.2 -> 800.52 -> 801
    m = make_market([2000, 2001.3])
    p = make_params(sizing=SizingRule.BASKET_ONLY, collateral_usd=2000.0, rebalance_every_ns=HOUR)
    r = simulate(m, p, col([1.0, 1.0]))
    assert list(r.timeseries["contracts_0"]) == [-800.0, -801.0]


def test_nan_target_keeps_the_current_hedge():
    m = make_market([2000, 2500, 2500])
    p = make_params(sizing=SizingRule.BASKET_ONLY, collateral_usd=2000.0, rebalance_every_ns=HOUR)
    r = simulate(m, p, col([1.0, np.nan, 0.5]))
    # bar 1: NaN -> no trade although B moved to 10,000; bar 2: 0.5*10000/10 = 500
    assert list(r.timeseries["contracts_0"]) == [-800.0, -800.0, -500.0]
    assert list(r.timeseries["target_ratio_0"]) == [1.0, 1.0, 0.5]


def test_two_inverse_legs_share_the_initial_collateral_rule():
    # SOL basket, ETH (10-USD) and BTC (100-USD) inverse legs, targets 0.5 each (H = 1).
    # Capital 12,000, L = 3, delta-neutral: C_j*P_j = h_j*K/(L - 1 + H) = 0.5*12000/3 = 2000
    # -> 1 ETH and 0.05 BTC; basket 8,000 = 80 SOL.
    # q*_ETH = (-0.5*8000 - 1*2000)/10 = -600; q*_BTC = (-4000 - 2000)/100 = -60; both at 3x.
    # bar 1: ETH 2200: U_ETH = -6000*(1/2000 - 1/2200) = -3/11 ETH -> leg (8/11)*2200 = 1600;
    # equity = 8000 + 1600 + 2000 = 11600.
    eth = [2000.0, 2200.0]
    btc = [40_000.0, 40_000.0]
    mark = np.column_stack([eth, btc])
    m = make_market(
        [[100.0], [100.0]],
        coins=("SOL",),
        legs=("binance ETH/USD:ETH", "binance BTC/USD:BTC"),
        kinds=(InstrumentKind.INVERSE, InstrumentKind.INVERSE),
        contract_sizes=(10.0, 100.0),
        mark=mark,
        coin_usd=mark,
    )
    p = make_params(
        capital=12_000.0,
        initial_leverage=3.0,
        legs=(free_leg(weight=0.5), free_leg(size=100.0, weight=0.5)),
    )
    r = simulate(m, p, np.full((2, 2), 0.5))
    ts = r.timeseries
    assert ts["collateral_coin_0"].iloc[0] == pytest.approx(1.0, rel=REL)
    assert ts["collateral_coin_1"].iloc[0] == pytest.approx(0.05, rel=REL)
    assert ts["units_SOL"].iloc[0] == pytest.approx(80.0, rel=REL)
    assert list(ts.iloc[0][["contracts_0", "contracts_1"]]) == [-600.0, -60.0]
    assert list(ts.iloc[0][["leverage_0", "leverage_1"]]) == approx([3.0, 3.0])
    assert ts["upnl_coin_0"].iloc[1] == pytest.approx(-3 / 11, rel=REL)
    assert list(ts["equity_hedged"]) == approx([12_000.0, 11_600.0])


def test_rebalance_times_are_aligned_to_the_utc_epoch():
    # 8-hourly rebalancing on hourly bars from 00:00: decisions at the closes 08:00, 16:00,
    # 00:00, i.e. the bars opening 07:00, 15:00 and 23:00 (and bar 0, the start).
    T = 24
    m = make_market([2000.0] * T)
    p = make_params(
        sizing=SizingRule.BASKET_ONLY, collateral_usd=2000.0, rebalance_every_ns=8 * HOUR
    )
    targets = col(np.linspace(1.0, 0.5, T))  # changes every bar
    r = simulate(m, p, targets)
    traded = r.trades[r.trades["instrument"] == "inverse"]["time"]
    assert [t.hour for t in traded] == [0, 7, 15, 23]
