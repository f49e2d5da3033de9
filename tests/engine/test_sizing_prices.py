"""Sizing: ties in the rounding of contracts, and which price turns dollars into contracts."""

from engine_tables import col, free_leg, make_market, make_params

from perphedge.domain import InstrumentKind, SizingRule
from perphedge.engine import simulate


def _inverse_short(capital: float) -> float:
    # basket_only, C = 2,048 USD at 2,048 = 1 ETH, basket (capital - 2,048)/2,048 ETH at 2,048
    # (a power of two, so B is exact): q* = -h*B/S = -(capital - 2048)/10 contracts, rounded to
    # the nearest whole contract.
    m = make_market([2048.0, 2048.0])
    p = make_params(capital=capital, sizing=SizingRule.BASKET_ONLY, collateral_usd=2048.0)
    return float(simulate(m, p, col([1.0, 1.0])).timeseries["contracts_0"].iloc[0])


def test_a_half_contract_tie_rounds_up_to_the_smaller_short():
    assert _inverse_short(10_053.0) == -800.0  # q* = -800.5: a tie, toward +inf
    assert _inverse_short(10_053.25) == -801.0  # q* = -800.525: nearest
    assert _inverse_short(10_052.75) == -800.0  # q* = -800.475: nearest


def test_dollars_become_contracts_at_the_perp_close_and_coins_are_valued_at_spot():
    # Linear leg, basket 8,000 USDC (spot 1), perp trade close 2,500, mark 2,400: the target
    # -h*B/P is -8000/2500 = -3.2 ETH at the perp close (the mark would give -3.333).
    m = make_market(
        [1.0, 1.0], coins=("USDC",), legs=("binance ETH/USDT:USDT",),
        kinds=(InstrumentKind.LINEAR,), contract_sizes=(0.001,), mark=col([2400.0, 2400.0]),
        trade=col([2500.0, 2500.0]),
    )  # fmt: skip
    p = make_params(
        capital=10_000.0,
        collateral_usd=2_000.0,
        legs=(free_leg(kind=InstrumentKind.LINEAR, size=0.001),),
    )
    ts = simulate(m, p, col([1.0, 1.0])).timeseries
    assert ts["contracts_0"].iloc[0] == -3.2
    assert ts["basket_value"].iloc[0] == 8_000.0
    # upnl at the mark: -3.2*(2400 - 2500) = +320 USDT; equity 8000 + 2000 + 320
    assert abs(ts["equity_hedged"].iloc[0] - 10_320.0) < 1e-9
