"""``hedge.legs[i].covers``: which basket coins a leg hedges, and the per-coin weight rule."""

from __future__ import annotations

import pytest

from perphedge.config import config_hash, leg_covers, load_config
from perphedge.errors import ConfigError


def _raw(legs: list[dict]) -> dict:
    return {
        "name": "t",
        "period": {"start": "2024-04-11", "end": "2024-06-19"},
        "basket": {"coins": {"SOL": 0.5, "ADA": 0.5}},
        "hedge": {"legs": legs},
    }


def test_own_coin_legs_each_weight_one() -> None:
    c = load_config(
        _raw(
            [
                {"symbol": "SOL/USD:SOL", "covers": ["SOL"]},
                {"symbol": "ADA/USD:ADA", "covers": ["ADA"]},
            ]
        )
    )
    assert c.hedge.legs[0].covers == ("SOL",)
    assert leg_covers(c) == ((True, False), (False, True))
    assert load_config(c.to_dict()) == c


def test_default_covers_everything_and_keeps_the_hash() -> None:
    c = load_config(_raw([{"symbol": "ETH/USD:ETH"}]))
    assert leg_covers(c) == ((True, True),)
    assert "covers" not in c.to_dict()["hedge"]["legs"][0]
    with_none = load_config(_raw([{"symbol": "ETH/USD:ETH", "covers": None}]))
    assert config_hash(with_none) == config_hash(c)


def test_covers_must_name_basket_coins() -> None:
    with pytest.raises(
        ConfigError, match=r"hedge\.legs\[0\]\.covers: DOT is not in the basket \(SOL, ADA\)"
    ):
        load_config(_raw([{"symbol": "SOL/USD:SOL", "covers": ["DOT"]}]))


def test_covers_lists_a_coin_once() -> None:
    with pytest.raises(ConfigError, match=r"covers: lists a coin twice: SOL, SOL"):
        load_config(_raw([{"symbol": "SOL/USD:SOL", "covers": ["SOL", "SOL"]}]))


def test_weights_sum_to_one_per_covered_coin() -> None:
    legs = [
        {"symbol": "SOL/USD:SOL", "covers": ["SOL"], "weight": 1.0},
        {"symbol": "ETH/USD:ETH", "weight": 0.5},  # covers both coins
    ]
    with pytest.raises(
        ConfigError, match=r"hedge\.legs: the weights of the legs covering SOL sum to 1\.5"
    ):
        load_config(_raw(legs))
    legs[0]["weight"] = 0.5
    legs[0]["covers"] = ["SOL"]
    legs[1]["covers"] = None
    with pytest.raises(ConfigError, match=r"covering ADA sum to 0\.5"):
        load_config(_raw(legs))


def test_basket_rebalance_parses_and_is_checked() -> None:
    from perphedge.domain import Timeframe

    raw = _raw([{"symbol": "ETH/USD:ETH"}])
    raw["basket"]["rebalance"] = {"every": "7d", "band": 0.05}
    c = load_config(raw)
    assert c.basket.rebalance.every == Timeframe.parse("7d") and c.basket.rebalance.band == 0.05
    assert load_config(c.to_dict()) == c
    plain = load_config(_raw([{"symbol": "ETH/USD:ETH"}]))
    assert plain.basket.rebalance is None and "rebalance" not in plain.to_dict()["basket"]
    raw["basket"]["rebalance"] = {"every": "90m", "band": 0.05}
    with pytest.raises(
        ConfigError, match=r"basket\.rebalance\.every: 90m is not a whole number of 1h bars"
    ):
        load_config(raw)
    raw["basket"]["rebalance"] = {"every": "7d", "band": 1.5}
    with pytest.raises(ConfigError, match=r"basket\.rebalance\.band: must be a weight difference"):
        load_config(raw)
