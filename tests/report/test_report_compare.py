"""compare_runs and the chart pieces the sweep report reuses."""

from __future__ import annotations

import itertools
import re
import struct

import numpy as np
import pandas as pd
import pytest
from report_synth import make_result

from perphedge.errors import ConfigError
from perphedge.report import compare_runs, heatmap, overlay_equity, risk_return_scatter
from perphedge.report.compare import equity_curves
from perphedge.report.grid_charts import _axis_order


def png_ok(path) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1210, 660)


@pytest.fixture(scope="module")
def runs():
    a = make_result(n_bars=24 * 20, seed=1)
    b = make_result(n_bars=24 * 20, seed=1)
    b.metrics["hedged_total_return"] = 0.5
    b.metrics["n_liquidations"] = 3
    return [("daily", a), ("weekly <x>", b)]


def test_compare_runs_table_chart_html(tmp_path, runs):
    text, paths = compare_runs(runs, tmp_path)
    lines = text.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["daily", "weekly <x>"]
    a_ret = f"{runs[0][1].metrics['hedged_total_return'] * 100:.2f}%"
    span = "2023-01-01..2023-01-20 1h"  # the fixtures: 20 days of 1h bars
    assert re.split(r"\s{2,}", lines[2]) == ["Period", span, span]
    assert re.split(r"\s{2,}", lines[3]) == ["Total return (hedged)", a_ret, "50.00%"]
    liq = next(line for line in lines if line.startswith("Liquidations"))
    assert re.split(r"\s{2,}", liq) == ["Liquidations", "0", "3"]
    assert set(paths) == {"compare_equity", "compare_csv", "compare_html"}
    assert png_ok(paths["compare_equity"])
    html = paths["compare_html"].read_text()
    assert "weekly &lt;x&gt;" in html and "<x>" not in html
    assert "https://" not in html and html.count("data:image/png;base64,") == 1
    csv = pd.read_csv(paths["compare_csv"], index_col="metric")
    assert csv.loc["n_liquidations", "weekly <x>"] == 3


def test_identical_unhedged_curves_are_drawn_once(runs):
    curves, dashed, owner = equity_curves(runs)
    assert list(curves) == ["daily", "weekly <x>", "unhedged (same for all)"]
    assert dashed == {"unhedged (same for all)"} and owner == {}
    other = make_result(n_bars=24 * 20, seed=2)
    curves, dashed, owner = equity_curves([*runs, ("other", other)])
    assert dashed == {"daily unhedged", "other unhedged"}
    assert owner == {"daily unhedged": "daily", "other unhedged": "other"}


def test_compare_rejects_duplicate_labels(tmp_path, runs):
    with pytest.raises(ConfigError, match=r"compare: run labels must be unique"):
        compare_runs([runs[0], runs[0]], tmp_path)
    with pytest.raises(ConfigError, match=r"compare: no runs given"):
        compare_runs([], tmp_path)


@pytest.fixture(scope="module")
def grid():
    rng = np.random.default_rng(0)
    rows = []
    for h, every in itertools.product([0.0, 0.5, 1.0], ["7d", "8h", "1d"]):
        rows.append(
            {
                "hedge.ratio": h,
                "rebalance.every": every,
                "hedged_total_return": -0.4 + 0.3 * h + rng.normal(0, 0.02),
                "hedged_volatility": 0.8 - 0.5 * h,
            }
        )
    df = pd.DataFrame(rows)
    df.loc[0, "hedged_total_return"] = np.nan  # a failed combination
    return df


def test_heatmap_and_scatter_write_pngs(tmp_path, grid):
    assert png_ok(heatmap(grid, "hedge.ratio", "rebalance.every", "hedged_total_return",
                          tmp_path / "h.png"))  # fmt: skip
    p = risk_return_scatter(
        grid, "hedged_volatility", "hedged_total_return", (0.8, -0.42), tmp_path / "s.png",
        color_by="rebalance.every", label="hedge.ratio",
    )  # fmt: skip
    assert png_ok(p)
    p = risk_return_scatter(
        grid, "hedged_volatility", "hedged_total_return",
        {"hedged_volatility": 0.8, "hedged_total_return": -0.42}, tmp_path / "s2.png",
        color_by="hedge.ratio",
    )  # fmt: skip
    assert png_ok(p)


def test_heatmap_unknown_column(tmp_path, grid):
    with pytest.raises(ConfigError, match=r"heat map: no column 'sharpe'; columns: hedge\.ratio"):
        heatmap(grid, "hedge.ratio", "rebalance.every", "sharpe", tmp_path / "h.png")


def test_axis_order_is_natural():
    assert _axis_order(pd.Series(["7d", "8h", "1d", "8h"])) == ["8h", "1d", "7d"]
    assert _axis_order(pd.Series([1.0, 0.25, 0.5])) == [0.25, 0.5, 1.0]
    assert _axis_order(pd.Series(["fixed", "rolling_beta", "fixed"])) == ["fixed", "rolling_beta"]


def test_overlay_equity_normalized_and_one_point(tmp_path):
    idx = pd.date_range("2023-01-01", periods=1, freq="1h", tz="UTC")
    p = overlay_equity(
        {"a": pd.Series([100.0], index=idx), "b": pd.Series([50.0], index=idx)},
        tmp_path / "o.png", normalize=True,
    )  # fmt: skip
    assert png_ok(p)


def test_runs_of_different_capital_are_rebased_to_one(tmp_path, monkeypatch):
    from perphedge.report import compare as compare_mod

    seen: dict = {}
    real = compare_mod.overlay_equity

    def spy(curves, out_path, **kw):  # noqa: ANN001, ANN202
        seen.update(kw)
        return real(curves, out_path, **kw)

    monkeypatch.setattr(compare_mod, "overlay_equity", spy)
    a, b = make_result(n_bars=48, seed=1), make_result(n_bars=48, seed=2)
    a.meta["capital"], b.meta["capital"] = 10_000.0, 10_000.0
    compare_runs([("a", a), ("b", b)], tmp_path / "same")
    assert seen["normalize"] is False
    b.meta["capital"] = 59_000.0  # e.g. 5 BTC against a 10,000 USD basket
    _, paths = compare_runs([("a", a), ("b", b)], tmp_path / "diff")
    assert seen["normalize"] is True
    assert seen["title"].endswith("each rebased to 1 at its start (different capital)")
    assert "each curve is rebased to 1" in paths["compare_html"].read_text()
