"""Config loader: every error path names the YAML path and what is allowed; overrides; hash;
round-trip through to_dict."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from perphedge.config import (
    CollateralSource,
    Config,
    GapPolicy,
    apply_overrides,
    config_hash,
    counterpart_symbol,
    load_config,
    load_raw,
    parse_override_path,
)
from perphedge.domain import InstrumentKind, SizingRule, Timeframe
from perphedge.errors import ConfigError

CONFIGS = sorted(
    p
    for p in (Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")
    if "base" not in load_raw(p)  # sweep files name a base run config
)


def minimal() -> dict:
    return {
        "name": "t",
        "period": {"start": "2023-01-01", "end": "2023-03-01"},
        "basket": {"coins": {"SOL": 0.5, "AVAX": 0.5}},
        "hedge": {"legs": [{"symbol": "ETH/USD:ETH"}]},
    }


def error_of(raw: dict, overrides: list[str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(raw, overrides)
    return info.value


def test_minimal_config_gets_documented_defaults() -> None:
    c = load_config(minimal())
    assert c.timeframe == Timeframe.parse("1h")
    assert c.capital == 10_000.0
    assert c.period.start == pd.Timestamp("2023-01-01", tz="UTC")
    assert c.basket.exchange == "binance" and c.basket.quote == "USDT"
    assert c.hedge.ratio == 1.0 and c.hedge.sizing is SizingRule.DELTA_NEUTRAL
    leg = c.hedge.legs[0]
    assert leg.kind is InstrumentKind.INVERSE  # resolved from the symbol
    assert leg.contract_size is None  # from the data's metadata at run time
    assert (leg.maintenance_margin, leg.taker_fee, leg.slippage_bps) == (0.005, 0.0005, 2.0)
    assert c.policy.name == "fixed" and dict(c.policy.params) == {}
    assert c.rebalance.every == Timeframe.parse("1d")
    assert c.collateral.source is CollateralSource.CAPITAL
    assert c.collateral.initial_leverage == 3.0 and c.collateral.usd is None
    assert c.collateral.leverage_band == (1.5, 5.0)
    assert c.data.gap_policy is GapPolicy.REFUSE and c.data.max_fill_bars == 0
    assert c.outputs.dir == "reports"


def test_config_is_frozen_and_picklable() -> None:
    c = load_config(minimal())
    with pytest.raises(AttributeError):
        c.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError, match="read-only"):
        c.basket.coins["SOL"] = 0.9  # type: ignore[index]
    assert pickle.loads(pickle.dumps(c)) == c


@pytest.mark.parametrize(
    ("overrides", "path", "message"),
    [
        (
            ["hedge.ratoi=1"],
            "hedge",
            "unknown key 'ratoi' (did you mean 'ratio'?); allowed: ratio, sizing, legs",
        ),
        (["colour=red"], "", "unknown key 'colour'; allowed: name, period, timeframe, capital"),
        (
            ["hedge.legs[0].sybmol=X"],
            "hedge.legs[0]",
            "unknown key 'sybmol' (did you mean 'symbol'?)",
        ),
        (["capital=lots"], "capital", "expected a number, got text 'lots'"),
        (["capital=true"], "capital", "expected a number, got boolean True"),
        (
            ["data.max_fill_bars=1.5"],
            "data.max_fill_bars",
            "expected a whole number, got number 1.5",
        ),
        (["outputs.html=maybe"], "outputs.html", "expected true or false, got text 'maybe'"),
        (
            ["hedge.sizing=delta"],
            "hedge.sizing",
            "unknown value 'delta'; allowed: delta_neutral, basket_only",
        ),
        (
            ["counterfactual=cash"],
            "counterfactual",
            "allowed: basket, basket_and_collateral, basket_and_cash",
        ),
        (["data.gap_policy=guess"], "data.gap_policy", "allowed: refuse, ffill"),
        (["timeframe=2x"], "timeframe", "invalid timeframe '2x'; expected e.g. 15m, 1h"),
        (["rebalance.every=90m"], "rebalance.every", "90m is not a whole number of 1h bars"),
        (
            ["period.start=2024-01-01"],
            "period",
            "start 2024-01-01T00:00:00Z must be before end 2023-03-01T00:00:00Z",
        ),
        (["period.end=soon"], "period.end", "expected an ISO 8601 date such as 2023-01-01"),
        (
            ["basket.coins.SOL=0.4"],
            "basket.coins",
            "weights sum to 0.9; they must sum to 1 (tolerance 1e-06)",
        ),
        (["basket.coins.SOL=-0.5"], "basket.coins.SOL", "weight must be > 0, got -0.5"),
        (["basket.quantities={BTC: 1}"], "basket", "give exactly one of 'coins'"),
        (["hedge.legs[0].weight=0.5"], "hedge.legs", "leg weights sum to 0.5; they must sum to 1"),
        (["hedge.legs[0].symbol=ETHUSD"], "hedge.legs[0].symbol", "is not a perpetual swap symbol"),
        (
            ["hedge.legs[0].taker_fee=0.5"],
            "hedge.legs[0].taker_fee",
            "must be a fraction in [0, 0.1)",
        ),
        (["hedge.legs=[]"], "hedge.legs", "needs at least one leg"),
        (
            ["hedge.legs[3].kind=linear"],
            "hedge.legs[3]",
            "index out of range; the list has 1 item(s)",
        ),
        (
            ["collateral.usd=500", "collateral.initial_leverage=2"],
            "collateral",
            "give initial_leverage or usd, not both",
        ),
        (
            ["collateral.leverage_band=[5, 1.5]"],
            "collateral.leverage_band",
            "need 0 < lo < hi, got [5.0, 1.5]",
        ),
        (
            ["collateral.leverage_band=[1, 2, 3]"],
            "collateral.leverage_band",
            "expected a list of 2 items, got 3",
        ),
        (
            ["hedge.legs[0].maintenance_margin=0.2", "collateral.leverage_band=[1.5, 5]"],
            "collateral.leverage_band[1]",
            "5 is at or above 1/maintenance_margin of hedge.legs[0] (0.2); it must be below 5",
        ),
        (
            ["hedge.legs[0].maintenance_margin=0.1", "collateral.leverage_band=[1.5, 12]"],
            "collateral.leverage_band[1]",
            "12 is at or above 1/maintenance_margin of hedge.legs[0] (0.1); it must be below 10",
        ),
        (
            ["collateral.target_leverage=9"],
            "collateral.target_leverage",
            "9.0 is outside leverage_band [1.5, 5.0]",
        ),
        (
            ["collateral.source=basket"],
            "collateral.source",
            "margined in ETH, which the basket does not hold (SOL, AVAX)",
        ),
        (["policy.name=../evil"], "policy.name", "invalid policy name '../evil'"),
        (["name=my run"], "name", "invalid name 'my run'"),
        (["hedge=3"], "hedge", "expected a mapping for hedge, got integer 3"),
    ],
)
def test_each_error_names_its_path_and_what_is_allowed(
    overrides: list[str], path: str, message: str
) -> None:
    err = error_of(minimal(), overrides)
    assert err.path == path
    assert message in err.detail


def test_missing_required_keys() -> None:
    raw = minimal()
    del raw["period"]
    err = error_of(raw)
    assert (err.path, err.detail) == ("", "missing required key 'period'")
    raw = minimal()
    raw["hedge"]["legs"][0] = {"exchange": "binance"}
    err = error_of(raw)
    assert (err.path, err.detail) == ("hedge.legs[0]", "missing required key 'symbol'")
    assert str(err) == "hedge.legs[0]: missing required key 'symbol'"


def test_quantities_basket_has_no_capital() -> None:
    raw = minimal()
    raw["basket"] = {"quantities": {"BTC": 5}}
    raw["hedge"]["legs"][0]["symbol"] = "BTC/USD:BTC"
    c = load_config(raw)
    assert c.capital is None and dict(c.basket.quantities) == {"BTC": 5.0}
    err = error_of(raw, ["capital=1000"])
    assert err.path == "capital" and "not both" in err.detail


def test_weights_within_tolerance_are_accepted() -> None:
    raw = minimal()
    raw["basket"]["coins"] = {"A": 1 / 3, "B": 1 / 3, "C": 0.3333333}  # off by 3.3e-8
    assert load_config(raw).basket.coin_names == ("A", "B", "C")
    raw["basket"]["coins"]["C"] = 0.33333  # off by 3.3e-6
    assert error_of(raw).path == "basket.coins"


def test_override_paths_and_values_are_parsed_as_yaml() -> None:
    assert parse_override_path("hedge.legs[0].kind") == ["hedge", "legs", 0, "kind"]
    assert parse_override_path("hedge.legs.0.kind") == ["hedge", "legs", 0, "kind"]
    with pytest.raises(ConfigError, match="invalid override path"):
        parse_override_path("hedge..ratio")
    raw = minimal()
    out = apply_overrides(
        raw,
        [
            "hedge.ratio=0.5",
            "outputs.html=false",
            "policy.params.windows=[[2023-01-01, 2023-02-01]]",
            "basket.exchange=okx",
        ],
    )
    assert out["hedge"]["ratio"] == 0.5 and out["outputs"]["html"] is False
    assert out["policy"]["params"]["windows"][0][1].isoformat() == "2023-02-01"
    assert out["basket"]["exchange"] == "okx"
    assert "ratio" not in raw["hedge"]  # the input is not modified
    # a mapping works as well (the sweeps pass one)
    assert apply_overrides(raw, {"hedge.legs[0].weight": 1.0})["hedge"]["legs"][0]["weight"] == 1.0
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides(raw, ["hedge.ratio"])
    with pytest.raises(ConfigError, match=r"^name: is a text, not a section"):
        apply_overrides(raw, ["name.x=1"])


def test_kind_override_switches_to_the_same_coins_other_perpetual() -> None:
    c = load_config(minimal(), ["hedge.legs[0].kind=linear"])
    assert c.hedge.legs[0].symbol == "ETH/USDT:USDT"
    assert c.hedge.legs[0].kind is InstrumentKind.LINEAR
    back = load_config(c.to_dict(), {"hedge.legs[0].kind": "inverse"})
    assert back.hedge.legs[0].symbol == "ETH/USD:ETH"
    assert counterpart_symbol("BTC/USD:BTC", InstrumentKind.INVERSE) == "BTC/USD:BTC"


def test_round_trip_through_to_dict_and_yaml(tmp_path: Path) -> None:
    import yaml

    for path in CONFIGS:
        c = load_config(path)
        d = c.to_dict()
        again = load_config(d)
        assert again == c and config_hash(again) == config_hash(c)
        f = tmp_path / "resolved.yaml"
        f.write_text(yaml.safe_dump(d, sort_keys=False))
        assert load_config(f) == c


def test_hash_is_stable_and_ignores_spelling_but_not_values() -> None:
    a = load_config(minimal())
    raw = minimal()
    raw["period"] = {"start": "2023-01-01T00:00:00Z", "end": "2023-03-01 00:00"}
    raw["timeframe"] = "60m"
    raw["capital"] = 10000  # int vs the default float
    b = load_config(raw)
    assert config_hash(a) == config_hash(b)
    # pinned: a change of the canonical form or of a default must be a deliberate diff
    assert config_hash(a) == "dd6deb29aa79547fd65ccb436ed6927b6be37d6763ae86343776004a9ded6644"
    c = load_config(minimal(), ["hedge.legs[0].taker_fee=0.0006"])
    assert config_hash(c) != config_hash(a)


def test_shipped_configs_load() -> None:
    names = {load_config(p).name for p in CONFIGS}
    assert {"eth_l1_basket", "btc_spot_hedge"} <= names
    c = load_config(CONFIGS[0].parent / "eth_l1_basket.yaml")
    assert c.basket.coin_names == ("SOL", "AVAX", "ADA", "DOT", "NEAR", "ATOM")
    assert c.data.gap_policy is GapPolicy.FFILL and c.data.max_fill_bars > 0
    assert c.policy.name == "rolling_beta" and c.timeframe.text == "1h"


def test_yaml_problems_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nperiod: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid YAML at line 3"):
        load_raw(bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="the top level must be a mapping of sections, got list"):
        load_raw(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_raw(tmp_path / "nope.yaml")


def test_sweep_section_is_ignored_and_sweep_files_are_pointed_to_backtest_sweep() -> None:
    raw = minimal()
    raw["sweep"] = {"grid": {"hedge.ratio": [0, 1]}}
    assert load_config(raw) == load_config(minimal())
    err = error_of({"base": "eth_l1_basket.yaml", "sweep": {}})
    assert (err.path, err.detail) == (
        "base",
        "this is a sweep file (it names a base config); run it with: backtest sweep FILE "
        "(or one run of its base: backtest run eth_l1_basket.yaml)",
    )


def test_a_sweep_file_given_to_run_names_both_commands() -> None:
    sweep_file = Path(__file__).resolve().parents[2] / "configs" / "eth_l1_sweep.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(sweep_file)
    assert info.value.detail == (
        f"this is a sweep file (it names a base config); run it with: backtest sweep "
        f"{sweep_file.as_posix()} (or one run of its base: backtest run "
        f"{(sweep_file.parent / 'eth_l1_basket.yaml').as_posix()})"
    )


def test_load_config_accepts_a_config() -> None:
    c = load_config(minimal())
    assert load_config(c) == c
    assert isinstance(load_config(c, ["hedge.ratio=0.25"]), Config)
    assert load_config(c, ["hedge.ratio=0.25"]).hedge.ratio == 0.25


def test_enum_typos_and_collateral_conflict_say_how_to_fix() -> None:
    err = error_of(minimal(), ["hedge.sizing=basket-only"])
    assert (err.path, err.detail) == (
        "hedge.sizing",
        "unknown value 'basket-only' (did you mean 'basket_only'?); allowed: delta_neutral, "
        "basket_only",
    )
    err = error_of(minimal(), ["collateral.initial_leverage=3", "collateral.usd=500"])
    assert err.detail.endswith("e.g. --set collateral.initial_leverage=null)")


def test_band_top_just_below_one_over_maintenance_is_accepted() -> None:
    c = load_config(
        minimal(), ["hedge.legs[0].maintenance_margin=0.1", "collateral.leverage_band=[1.5, 9.99]"]
    )
    assert c.collateral.leverage_band == (1.5, 9.99)
