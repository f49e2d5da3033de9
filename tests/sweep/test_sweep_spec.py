"""Parsing the sweep section, expanding the grid, and validation before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from perphedge.errors import ConfigError
from perphedge.sweep.grid import expand
from perphedge.sweep.pipeline import load_sweep
from perphedge.sweep.spec import parse_sweep_section, rolling_periods

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "configs" / "eth_l1_basket.yaml"


def _base() -> dict:
    return yaml.safe_load(BASE.read_text())


def _with(grid: dict, **section) -> dict:
    raw = _base()
    raw["sweep"] = {"grid": grid, **section}
    return raw


def test_expand_order_and_ids_first_axis_slowest_periods_fastest():
    spec = parse_sweep_section(
        {
            "grid": {"hedge.ratio": [0.5, 1.0], "rebalance.every": ["8h", "1d", "7d"]},
            "periods": [["2023-01-01", "2023-02-01"], ["2023-02-01", "2023-03-01"]],
        },
        name="t",
    )
    combos = expand(spec)
    assert len(combos) == 12
    assert [c.combo_id for c in combos[:3]] == ["c0000", "c0001", "c0002"]
    got = [(dict(c.params)["hedge.ratio"], dict(c.params)["rebalance.every"], c.period.start)
           for c in combos[:5]]  # fmt: skip
    assert got == [
        (0.5, "8h", "2023-01-01"),
        (0.5, "8h", "2023-02-01"),
        (0.5, "1d", "2023-01-01"),
        (0.5, "1d", "2023-02-01"),
        (0.5, "7d", "2023-01-01"),
    ]
    assert dict(combos[11].params) == {"hedge.ratio": 1.0, "rebalance.every": "7d"}
    # the digest depends only on the point, so the same point has the same digest in any sweep
    again = expand(spec)
    assert [c.digest for c in again] == [c.digest for c in combos]
    assert len({c.digest for c in combos}) == 12


def test_rolling_windows_by_hand():
    # 2023-01-01 + 90 d = 2023-04-01; + 365 d from there = 2024-03-31 (2024 is a leap year);
    # the fourth start 2023-09-28 + 365 d = 2024-09-27 is past the end
    got = rolling_periods("2023-01-01", "2024-07-01", "365d", "90d")
    assert [(p.start, p.end) for p in got] == [
        ("2023-01-01", "2024-01-01"),
        ("2023-04-01", "2024-03-31"),
        ("2023-06-30", "2024-06-29"),
    ]


def test_rolling_windows_default_to_the_base_period():
    loaded = load_sweep(
        _with({"hedge.ratio": [0.5]}, periods={"rolling": {"length": "365d", "step": "180d"}})
    )
    assert [p.label for p in loaded.spec.periods] == [
        "2023-01-01..2024-01-01",
        "2023-06-30..2024-06-29",
    ]
    starts = [str(p.config.period.start.date()) for p in loaded.planned]
    assert starts == ["2023-01-01", "2023-06-30"]


def test_rolling_window_longer_than_base_fails():
    with pytest.raises(ConfigError, match=r"sweep\.periods\.rolling: no window of 800d fits"):
        load_sweep(_with({"hedge.ratio": [0.5]}, periods={"rolling": {"length": "800d"}}))


def test_invalid_grid_key_fails_naming_it_before_running(monkeypatch):
    import perphedge.runner

    def boom(*a, **k):
        raise AssertionError("nothing may run before validation")

    monkeypatch.setattr(perphedge.runner, "run", boom)
    with pytest.raises(ConfigError, match=r"^sweep\.grid\.hedge\.ratoi: value 0\.5: .*unknown"):
        load_sweep(_with({"hedge.ratio": [0.5, 1.0], "hedge.ratoi": [0.5]}))


def test_invalid_grid_value_fails_naming_key_and_value():
    with pytest.raises(
        ConfigError, match=r"^sweep\.grid\.hedge\.ratio: value -1: hedge\.ratio: must be >= 0"
    ):
        load_sweep(_with({"hedge.ratio": [0.5, -1]}))


def test_unknown_policy_in_grid_fails_before_running():
    with pytest.raises(
        ConfigError, match=r"^sweep\.grid\.policy\.name: value 'nope': .*no strategy"
    ):
        load_sweep(_with({"policy.name": ["rolling_beta", "nope"]}))


def test_bad_list_index_names_the_key():
    with pytest.raises(ConfigError, match=r"^sweep\.grid\.hedge\.legs\[3\]\.kind: .*out of range"):
        load_sweep(_with({"hedge.legs[3].kind": ["linear"]}))


def test_linked_variant_with_bad_key_names_axis_and_label():
    grid = {"policy": {"fixed": {"policy.name": "fixed", "policy.params": {"lookback": "3d"}}}}
    with pytest.raises(ConfigError, match=r"^sweep\.grid\.policy\.fixed: .*lookback"):
        load_sweep(_with(grid))


def test_jointly_invalid_combination_is_kept_as_invalid():
    # each value loads on the base (band [1.5, 5], target 3), but target 4.5 with band [1, 3]
    # does not: that one combination is marked, the other three are planned normally
    loaded = load_sweep(
        _with(
            {
                "collateral.target_leverage": [2.0, 4.5],
                "collateral.leverage_band": [[1.5, 5.0], [1.0, 3.0]],
            }
        )
    )
    status = [(p.combination.combo_id, p.config is None) for p in loaded.planned]
    assert status == [("c0000", False), ("c0001", False), ("c0002", False), ("c0003", True)]
    bad = loaded.planned[3]
    assert bad.error_type == "ConfigError"
    assert bad.error.startswith("collateral.target_leverage: 4.5 is outside leverage_band")


def test_kind_switch_loads_the_linear_counterpart():
    loaded = load_sweep(_with({"hedge.legs[0].kind": ["inverse", "linear"]}))
    symbols = [p.config.hedge.legs[0].symbol for p in loaded.planned]
    assert symbols == ["ETH/USD:ETH", "ETH/USDT:USDT"]


def test_sweep_file_with_base_and_set(tmp_path):
    sweep_file = tmp_path / "my_sweep.yaml"
    sweep_file.write_text(
        yaml.safe_dump(
            {
                "base": str(BASE),
                "set": {"period.end": "2023-03-01"},
                "sweep": {"grid": {"hedge.ratio": [0.5, 1.0]}, "rank_by": "hedged_sortino"},
            }
        )
    )
    loaded = load_sweep(sweep_file)
    assert loaded.spec.name == "my_sweep"
    assert loaded.spec.rank_by == "hedged_sortino"
    assert [str(p.config.period.end.date()) for p in loaded.planned] == ["2023-03-01"] * 2


def test_sweep_file_unknown_top_level_key(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({"base": str(BASE), "grid": {"hedge.ratio": [1]}}))
    with pytest.raises(ConfigError, match=r"^grid: unknown key in a sweep file"):
        load_sweep(f)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"grid": {"hedge.ratio": [1.0, 1.0]}}, r"sweep\.grid\.hedge\.ratio: value 1\.0 is listed twice"),
        ({"grid": {"hedge.ratio": []}}, r"sweep\.grid\.hedge\.ratio: expected a non-empty list"),
        ({"grid": {"hedge.ratio": [1]}, "rank_order": "up"}, r"sweep\.rank_order: expected one of auto, asc, desc, got .up."),
        ({"grid": {"hedge.ratio": [1]}, "colour": 1}, r"sweep\.colour: unknown key"),
        (
            {"grid": {"hedge.ratio": [1], "rebalance.every": ["1d"]},
             "heatmap": {"x": "hedge.ratio", "y": "fees"}},
            r"sweep\.heatmap\.y: 'fees' is not a grid key",
        ),
        ({"grid": {"hedge.ratio": [1]}, "periods": [["2023-02-01", "2023-01-01"]]},
         r"sweep\.periods\[0\]: start 2023-02-01 is not before end 2023-01-01"),
    ],
)  # fmt: skip
def test_section_errors(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_sweep_section(section, name="t")


def test_rank_direction_defaults():
    assert not parse_sweep_section({"grid": {"a": [1]}}, name="t").ascending  # Sharpe: high first
    vol = parse_sweep_section({"grid": {"a": [1]}, "rank_by": "hedged_volatility"}, name="t")
    assert vol.ascending
    mdd = parse_sweep_section({"grid": {"a": [1]}, "rank_by": "hedged_max_drawdown"}, name="t")
    assert not mdd.ascending  # drawdowns are negative: closer to 0 is better


def test_plain_run_config_needs_a_grid_from_the_caller():
    from perphedge.config import load_config

    with pytest.raises(ConfigError, match=r"^sweep: missing: add a 'sweep:' section"):
        load_sweep(BASE)
    for source in (BASE, load_config(BASE), _base()):
        loaded = load_sweep(source, grid={"hedge.ratio": [0.5, 1.0]})
        assert loaded.spec.name == "eth_l1_basket"
        assert [p.config.hedge.ratio for p in loaded.planned] == [0.5, 1.0]


def test_heatmap_cells_by_hand():
    import numpy as np
    import pandas as pd

    from perphedge.sweep.charts import heatmap_matrix

    spec = parse_sweep_section(
        {
            "grid": {"a": [2, 1], "b": ["8h", "1d"], "c": ["x", "y"]},
            "heatmap": [
                {"x": "a", "y": "b", "metric": "fees_usd"},
                {"x": "b", "y": "c", "agg": "max"},
            ],
            "rank_by": "fees_usd",
        },
        name="t",
    )
    # rows in combination order: a slowest, c fastest; fees 1..8; the last row failed
    frame = pd.DataFrame(
        {
            "a": [2, 2, 2, 2, 1, 1, 1, 1],
            "b": ["8h", "8h", "1d", "1d"] * 2,
            "c": ["x", "y"] * 4,
            "fees_usd": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, np.nan],
            "status": ["ok"] * 7 + ["error"],
        }
    )
    grid, xs, ys = heatmap_matrix(frame, spec, spec.heatmaps[0])
    assert (xs, ys) == ([2, 1], ["8h", "1d"])  # grid order, not sorted
    # cell (b=8h, a=2) = mean(1, 2); (1d, 1) = mean(7) since the 8.0 row failed
    np.testing.assert_array_equal(grid, [[1.5, 5.5], [3.5, 7.0]])
    grid2, xs2, ys2 = heatmap_matrix(frame, spec, spec.heatmaps[1])
    assert (xs2, ys2) == (["8h", "1d"], ["x", "y"])
    np.testing.assert_array_equal(grid2, [[5.0, 7.0], [6.0, 4.0]])  # max over a


def test_period_axis_needs_periods():
    with pytest.raises(ConfigError, match=r"^sweep\.heatmap\.y: 'period' is not a grid key"):
        parse_sweep_section({"grid": {"a": [1, 2]}, "heatmap": {"x": "a", "y": "period"}}, name="t")
    spec = parse_sweep_section(
        {
            "grid": {"a": [1, 2]},
            "periods": [["2023-01-01", "2023-02-01"], ["2023-02-01", "2023-03-01"]],
            "heatmap": {"x": "a", "y": "period"},
        },
        name="t",
    )
    assert spec.heatmaps[0].y == "period"


def test_misspelt_metric_fails_before_running():
    with pytest.raises(
        ConfigError,
        match=r"^sweep\.rank_by: unknown metric 'hedged_sharp' \(did you mean hedged_sharpe",
    ):
        load_sweep(_with({"hedge.ratio": [0.5]}, rank_by="hedged_sharp"))
    with pytest.raises(ConfigError, match=r"^sweep\.heatmap\.metric: unknown metric 'sharpe'"):
        parse_sweep_section(
            {"grid": {"a": [1], "b": [2]}, "heatmap": {"x": "a", "y": "b", "metric": "sharpe"}},
            name="t",
        )
    assert parse_sweep_section({"grid": {"a": [1]}, "rank_by": "attr_funding"}, name="t").rank_by
