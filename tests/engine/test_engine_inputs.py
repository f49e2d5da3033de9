"""Input validation (one clear error per problem) and the allocation / counterfactual options."""

import dataclasses

import numpy as np
import pytest
from engine_tables import DAY, col, make_market, make_params

from perphedge.domain import Counterfactual, InstrumentKind
from perphedge.engine import simulate
from perphedge.errors import ConfigError, DataValidationError


def _market():
    return make_market([2000.0, 2100.0, 1900.0])


def test_targets_shape_and_values_are_checked():
    with pytest.raises(ConfigError, match=r"targets: shape \(2, 1\), expected \(3, 1\)"):
        simulate(_market(), make_params(), col([1.0, 1.0]))
    with pytest.raises(ConfigError, match="targets: target ratios must be finite and >= 0"):
        simulate(_market(), make_params(), col([1.0, -0.5, 1.0]))
    with pytest.raises(ConfigError, match="targets: target ratios must be finite and >= 0"):
        simulate(_market(), make_params(), col([1.0, np.inf, 1.0]))


def test_params_are_checked():
    m, h = _market(), col([1.0] * 3)
    with pytest.raises(ConfigError, match="basket.weights: weights must be non-negative and sum"):
        simulate(m, make_params(weights=np.array([0.9])), h)
    with pytest.raises(ConfigError, match=r"leverage_band: need 0 <= low <= leverage_target"):
        simulate(m, make_params(leverage_band=(2.0, 5.0), leverage_target=1.0), h)
    with pytest.raises(ConfigError, match="rebalance_every: .* positive multiple of the bar"):
        simulate(m, make_params(rebalance_every_ns=DAY + 1), h)
    with pytest.raises(ConfigError, match=r"hedge.legs\[0\].kind: linear but the market"):
        leg = dataclasses.replace(make_params().legs[0], kind=InstrumentKind.LINEAR)
        simulate(m, make_params(legs=(leg,)), h)
    with pytest.raises(ConfigError, match="collateral_usd: the collateral takes all"):
        simulate(m, make_params(collateral_usd=10_000.0), h)


def test_market_data_is_checked():
    h = col([1.0] * 3)
    bad_high = make_market([2000.0, 2100.0, 1900.0], high=[2000.0, 2000.0, 1900.0])
    with pytest.raises(DataValidationError, match="close outside .* 1970-01-01 01:00:00"):
        simulate(bad_high, make_params(), h)
    with pytest.raises(DataValidationError, match="spot_close: non-finite or non-positive"):
        simulate(make_market([2000.0, 0.0, 1900.0], mark=col([2000.0] * 3)), make_params(), h)
    m = _market()
    unsorted = dataclasses.replace(m, times=m.times[::-1].copy())
    with pytest.raises(DataValidationError, match="market.times: not strictly increasing"):
        simulate(unsorted, make_params(), h)


def test_collateral_from_basket_moves_coins_out_of_the_basket():
    # all 10,000 buys 5 ETH; delta-neutral at L=3, h=1: C*P = 10000/(3-1+1) -> 5/3 ETH moved
    m = _market()
    p = make_params(
        collateral_from_basket=True, counterfactual=Counterfactual.BASKET_AND_COLLATERAL
    )
    r = simulate(m, p, col([1.0] * 3))
    ts = r.timeseries
    assert ts["collateral_coin_0"].iloc[0] == pytest.approx(5 / 3, rel=1e-12)
    assert ts["units_ETH"].iloc[0] == pytest.approx(10 / 3, rel=1e-12)
    # N*S = C*P + h*B = 10000/3 + 20000/3 = 10000 -> 1000 contracts
    assert ts["contracts_0"].iloc[0] == -1000.0
    # the unhedged side holds the whole 5 ETH
    assert list(ts["equity_unhedged"]) == pytest.approx([10_000, 10_500, 9_500], rel=1e-12)
    assert (r.trades["reason"] == "initial").sum() == 1


def test_collateral_from_basket_needs_the_coin_in_the_basket():
    m = make_market([[100.0]] * 3, coins=("SOL",), mark=col([2000.0] * 3))
    with pytest.raises(ConfigError, match="collateral_from_basket: the basket does not hold ETH"):
        simulate(m, make_params(collateral_from_basket=True), col([1.0] * 3))


def test_basket_and_cash_counterfactual_keeps_the_collateral_money_as_cash():
    # collateral 2,000 USD; the unhedged side: 4 ETH basket + 2,000 cash
    p = make_params(collateral_usd=2000.0, counterfactual=Counterfactual.BASKET_AND_CASH)
    r = simulate(_market(), p, col([1.0] * 3))
    assert list(r.timeseries["equity_unhedged"]) == pytest.approx(
        [10_000, 4 * 2100 + 2000, 4 * 1900 + 2000], rel=1e-12
    )


def test_notes_are_copied_and_index_is_utc():
    m = make_market([2000.0, 2100.0], notes=("mark substitute: perp last price",))
    r = simulate(m, make_params(), col([1.0, 1.0]))
    assert r.notes == ("mark substitute: perp last price",)
    assert str(r.timeseries.index.dtype) == "datetime64[ns, UTC]"
    assert r.timeseries.index.name == "timestamp"


def test_funding_per_unit_must_match_the_contract_size():
    # the market layer computed S*r/mark with S = 10; a config saying S = 100 must not pass
    m = make_market([2000.0, 2000.0, 2000.0], funding_rate=[0, 0.0001, 0.0001])
    leg = dataclasses.replace(make_params().legs[0], contract_size=100.0)
    with pytest.raises(DataValidationError, match=r"funding_per_unit: leg .* is 0.1x"):
        simulate(m, make_params(legs=(leg,)), col([1.0] * 3))
