"""The notebook API: perphedge.run(...) -> Result with .plot(), perphedge.sweep(...) -> table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import perphedge
from perphedge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BASE = str(ROOT / "configs" / "eth_l1_basket.yaml")
SHORT = {"period.start": "2023-01-01", "period.end": "2023-01-15"}


@pytest.fixture(scope="module")
def result():
    return perphedge.run(BASE, overrides=SHORT)


def test_run_gives_metrics_timeseries_trades(result):
    assert result.metrics["hedged_final_equity"] > 0
    # 14 days of hourly bars: 336 rows
    assert len(result.timeseries) == 14 * 24
    assert {"equity_hedged", "equity_unhedged"} <= set(result.timeseries.columns)
    assert len(result.trades) == result.metrics["n_trades"]


def test_plot_returns_an_inline_png_and_can_save_it(result, tmp_path):
    img = result.plot()
    assert img.name == "equity"
    assert img._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "margin.png"
    margin = result.plot("margin", path=out)
    assert out.read_bytes() == margin.data
    with pytest.raises(ConfigError, match=r"^chart: unknown chart 'nope'; charts: equity, "):
        result.plot("nope")


def test_sweep_is_callable_from_the_package():
    sweep = {"base": BASE, "set": SHORT, "sweep": {"grid": {"hedge.ratio": [0.5, 1.0]}}}
    table = perphedge.sweep(sweep, serial=True)
    assert isinstance(table, pd.DataFrame)
    assert list(table["combo_id"]) == ["c0000", "c0001"]
    # the same combination through perphedge.run gives the same numbers
    one = perphedge.run(BASE, overrides={**SHORT, "hedge.ratio": 1.0})
    assert table.loc[1, "hedged_total_return"] == one.metrics["hedged_total_return"]
    assert table.loc[1, "hedged_sharpe"] == one.metrics["hedged_sharpe"]
