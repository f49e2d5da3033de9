"""Contract arithmetic: every worked number of hedging-model.md as its own test."""

import math

import pytest

from perphedge.engine import contracts as c


def test_btc_example_contract_count():
    # 5 BTC at 60,000 = 300,000 USD; 100-USD contracts -> 3,000 contracts short.
    assert 5 * 60_000 / 100 == 3_000


def test_btc_example_short_gain_at_54000():
    # 3000*100*(1/54000 - 1/60000) = 300000*6000/(54000*60000) = 5/9 BTC = 0.5556 BTC
    gain = c.inverse_upnl(-3000.0, 100.0, 60_000.0, 54_000.0)
    assert gain == pytest.approx(5.0 / 9.0, rel=1e-12)
    assert round(gain, 4) == 0.5556
    # worth 30,000 USD at 54,000, exactly offsetting the spot loss 5*(60000-54000)
    assert gain * 54_000 == pytest.approx(30_000.0, rel=1e-12)
    assert 5 * (54_000 - 60_000) + gain * 54_000 == pytest.approx(0.0, abs=1e-8)


def test_eth_example_short_gain_and_collateral_loss():
    # 10,000 USD at 3,000 with 10-USD contracts: 1,000 contracts.
    assert 10_000 / 10 == 1_000
    gain = c.inverse_upnl(-1000.0, 10.0, 3_000.0, 2_700.0)
    # 10000*(1/2700 - 1/3000) = 10000*300/8.1e6 = 10/27 = 0.37037 ETH = 1000 USD
    assert gain == pytest.approx(10.0 / 27.0, rel=1e-12)
    assert round(gain, 5) == 0.37037
    assert gain * 2_700 == pytest.approx(1_000.0, rel=1e-12)
    # 1 ETH of collateral loses 300 USD meanwhile: account value moves by -300 + 1000.
    v0 = c.account_usd_value(1.0, -1000.0, 10.0, 3_000.0, 3_000.0)
    v1 = c.account_usd_value(1.0, -1000.0, 10.0, 3_000.0, 2_700.0)
    assert v0 == pytest.approx(3_000.0, rel=1e-12)
    assert v1 - v0 == pytest.approx(-300.0 + 1_000.0, rel=1e-12)


def test_funding_example_short_receives():
    # short 1000 ETH contracts, mark 2500, r=+0.0001: 1000*10/2500*0.0001 = 0.0004 ETH = 1 USD
    got = c.inverse_funding(-1000.0, 10.0, 2_500.0, 0.0001)
    assert got == pytest.approx(0.0004, rel=1e-12)
    assert got * 2_500 == pytest.approx(1.0, rel=1e-12)
    # the same through the per-unit form the market layer provides (S*r/mark per contract)
    assert c.funding_received(-1000.0, 10.0 * 0.0001 / 2_500.0) == pytest.approx(0.0004, rel=1e-12)


def test_funding_negative_rate_short_pays():
    assert c.inverse_funding(-1000.0, 10.0, 2_500.0, -0.0001) == pytest.approx(-0.0004, rel=1e-12)
    assert c.linear_funding(-2.0, 2_500.0, -0.0001) == pytest.approx(-0.5, rel=1e-12)


def test_liquidation_price_example_5970():
    # C=1, N*S=6000 (600 contracts of 10 USD), E=3000, m=0.005: 0.995*6000/(2-1) = 5970
    assert c.inverse_liq_price_short(-600.0, 10.0, 3_000.0, 1.0, 0.005) == pytest.approx(
        5_970.0, rel=1e-12
    )
    # at P_liq the margin balance equals the maintenance requirement
    p = 5_970.0
    mb = c.margin_balance(1.0, c.inverse_upnl(-600.0, 10.0, 3_000.0, p))
    assert mb == pytest.approx(c.maintenance_requirement(-600.0, 10.0, p, 0.005), rel=1e-12)


def test_synthetic_dollar_has_no_liquidation_price_and_constant_value():
    # C=1 ETH, N*S = C*E = 3000 at E=3000: N*S/E == C -> no liquidation price
    assert math.isnan(c.inverse_liq_price_short(-300.0, 10.0, 3_000.0, 1.0, 0.005))
    for p in (100.0, 1_500.0, 3_000.0, 9_000.0, 1e6):
        assert c.account_usd_value(1.0, -300.0, 10.0, 3_000.0, p) == pytest.approx(3_000.0)
    assert c.account_coin_exposure(1.0, -300.0, 10.0, 3_000.0) == 0.0


def test_flat_or_long_has_no_short_liquidation_price():
    assert math.isnan(c.inverse_liq_price_short(0.0, 10.0, 3_000.0, 1.0, 0.005))
    assert math.isnan(c.linear_liq_price_short(0.0, 3_000.0, 1_000.0, 0.005))


def test_harmonic_entry():
    # 1000 contracts at 3000 plus 1000 at 2000: 2000/(1000/3000 + 1000/2000) = 2400
    assert c.harmonic_entry(-1000.0, 3_000.0, -1000.0, 2_000.0) == pytest.approx(2_400.0)
    assert c.harmonic_entry(0.0, math.nan, -5.0, 2_000.0) == 2_000.0


def test_inverse_fee():
    # 1000 contracts of 10 USD at 2500, 5 bp: 10000/2500*0.0005 = 0.002 ETH
    assert c.inverse_fee(-1000.0, 10.0, 2_500.0, 0.0005) == pytest.approx(0.002, rel=1e-12)


def test_apply_trade_inverse_open_add_reduce():
    # open 1000 short at 3000, fee 5 bp = 10000/3000*0.0005
    q, E, C, realized, fee = c.apply_trade_inverse(
        0.0, math.nan, 2.0, -1000.0, 3_000.0, 10.0, 0.0005
    )
    assert (q, E, realized) == (-1000.0, 3_000.0, 0.0)
    assert fee == pytest.approx(10_000 / 3_000 * 0.0005)
    assert pytest.approx(2.0 - fee) == C
    # add 1000 at 2000 -> harmonic 2400, no fee
    q, E, C, realized, fee = c.apply_trade_inverse(q, E, 2.0, -1000.0, 2_000.0, 10.0, 0.0)
    assert q == -2000.0 and pytest.approx(2_400.0) == E
    # buy back 500 at 2000: realized 500*10*(1/2000 - 1/2400)... sign of the short: -500*10*(...)
    q, E, C, realized, fee = c.apply_trade_inverse(q, E, 2.0, 500.0, 2_000.0, 10.0, 0.0)
    assert q == -1500.0 and pytest.approx(2_400.0) == E
    assert realized == pytest.approx(-500 * 10 * (1 / 2_400 - 1 / 2_000))
    assert realized == pytest.approx(500 * 10 * (1 / 2_000 - 1 / 2_400))  # a short gained
    assert pytest.approx(2.0 + realized) == C
    # close all -> entry NaN
    q, E, C, realized, fee = c.apply_trade_inverse(q, E, 2.0, 1500.0, 2_400.0, 10.0, 0.0)
    assert q == 0.0 and math.isnan(E) and realized == pytest.approx(0.0, abs=1e-15)


def test_apply_trade_inverse_value_change_is_fill_vs_mark():
    # value change of C + U(mark) equals dq*S*(1/fill - 1/mark) - fee, for add and reduce
    for q0, dq in ((-1000.0, -300.0), (-1000.0, 400.0)):
        E0, C0, mark, fill, S, f = 2_800.0, 1.5, 3_000.0, 3_003.0, 10.0, 0.0005
        before = C0 + c.inverse_upnl(q0, S, E0, mark)
        q, E, C, _, fee = c.apply_trade_inverse(q0, E0, C0, dq, fill, S, f)
        after = C + c.inverse_upnl(q, S, E, mark)
        assert after - before == pytest.approx(dq * S * (1 / fill - 1 / mark) - fee, abs=1e-14)


def test_linear_equivalents():
    assert c.linear_upnl(-2.0, 3_000.0, 2_700.0) == pytest.approx(600.0)
    assert c.linear_fee(-2.0, 2_500.0, 0.0005) == pytest.approx(2.5)
    assert c.linear_funding(-2.0, 2_500.0, 0.0001) == pytest.approx(0.5)
    # (C + N*E)/(N*(1+m)) = (1000 + 3000)/1.005
    assert c.linear_liq_price_short(-1.0, 3_000.0, 1_000.0, 0.005) == pytest.approx(4_000 / 1.005)
    q, E, C, realized, fee = c.apply_trade_linear(-1.0, 3_000.0, 1_000.0, -1.0, 2_000.0, 0.0)
    assert (q, E, realized, fee) == (-2.0, 2_500.0, 0.0, 0.0)
    q, E, C, realized, fee = c.apply_trade_linear(q, E, C, 1.0, 2_000.0, 0.001)
    assert realized == pytest.approx(500.0) and fee == pytest.approx(2.0)
    assert pytest.approx(1_000.0 + 500.0 - 2.0) == C


def test_spot_trades_lose_exactly_fee_plus_slippage():
    coins, fee, slip = c.spot_buy_usd(1_000.0, 100.0, 0.0005, 0.001)
    # fill 100.05, coins = 1000/(100.05*1.001)
    assert coins == pytest.approx(1_000.0 / (100.05 * 1.001))
    assert coins * 100.0 - 1_000.0 == pytest.approx(-(fee + slip), abs=1e-12)
    usd, fee, slip = c.spot_sell_coins(2.0, 100.0, 0.0005, 0.001)
    assert usd == pytest.approx(2 * 99.95 * 0.999)
    assert usd - 200.0 == pytest.approx(-(fee + slip), abs=1e-12)
