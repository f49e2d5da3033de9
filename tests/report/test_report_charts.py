"""Run charts: valid PNGs of the expected size, and the awkward cases (no trades, a liquidation,
NaN liquidation price, a one-bar run, several legs, hostile text)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from report_synth import make_result

from perphedge.report import render_charts
from perphedge.report.access import events_of, leg_indices
from perphedge.report.plotting import thin_positions

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMES = ["equity", "hedge_ratio", "margin", "costs", "attribution"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_charts(paths: dict, out_dir) -> None:
    assert list(paths) == NAMES
    for name, p in paths.items():
        assert p == out_dir / f"{name}.png"
        data = p.read_bytes()
        # figsize 11 x 6 inches at 110 dpi
        assert png_size(data) == (1210, 660), name
        assert len(data) > 20_000, name  # a real picture, not an empty canvas


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"n_bars": 24 * 30, "liquidation_at": 24 * 10 + 3}, id="liquidation"),
        pytest.param({"n_bars": 24 * 30, "trades": False}, id="no-trades-nan-liq-price"),
        pytest.param({"n_bars": 1}, id="one-bar"),
        pytest.param({"n_bars": 24 * 30, "n_legs": 2, "name": "a $b$ {c} 100%"}, id="two-legs"),
    ],
)
def test_render_charts_cases(tmp_path, kwargs):
    r = make_result(**kwargs)
    assert_charts(render_charts(r, tmp_path), tmp_path)


def test_fixture_cases_are_what_they_claim():
    liq = make_result(n_bars=24 * 30, liquidation_at=24 * 10 + 3)
    assert len(events_of(liq, "liquidation")) == 1
    none = make_result(n_bars=24 * 30, trades=False)
    assert len(none.trades) == 0 and none.timeseries["liq_price_0"].isna().all()
    assert leg_indices(make_result(n_bars=5, n_legs=2).timeseries) == [0, 1]


def test_long_run_is_thinned_but_keeps_extremes():
    v = np.sin(np.arange(100_000) / 500.0)
    v[54_321] = 9.0  # a one-bar spike
    v[77_777] = -9.0
    pos = thin_positions(v, max_points=3000)
    assert len(pos) <= 3000 + 2
    assert {0, 54_321, 77_777, 99_999} <= set(pos.tolist())
    assert np.all(np.diff(pos) > 0)
    short = thin_positions(np.arange(10.0), max_points=3000)
    assert short.tolist() == list(range(10))


def test_thin_positions_ignores_all_nan_columns():
    v = np.column_stack([np.arange(10_000.0), np.full(10_000, np.nan)])
    pos = thin_positions(v, max_points=300)
    assert pos[0] == 0 and pos[-1] == 9_999 and len(pos) <= 302


def _ratio_ylabel(result, tmp_path, monkeypatch) -> str:
    """The y-label the hedge-ratio chart draws (the figure is caught before it is saved)."""
    from perphedge.report import charts

    seen: list = []

    def keep(fig, path):  # noqa: ANN001, ANN202
        seen.append(fig)
        return path

    monkeypatch.setattr(charts, "save_png", keep)
    charts.hedge_ratio_chart(result, tmp_path / "hedge_ratio.png")
    (fig,) = seen
    return fig.axes[0].get_ylabel()


@pytest.mark.parametrize(
    ("sizing", "label"),
    [
        # docs/engine.md: delta_neutral actual ratio = -X·P/B, the account's net USD delta
        ("delta_neutral", "Hedge ratio (hedge's net short USD delta / basket value)"),
        ("basket_only", "Hedge ratio (short notional / basket value)"),
    ],
)
def test_hedge_ratio_ylabel_follows_the_sizing_rule(tmp_path, monkeypatch, sizing, label):
    r = make_result(n_bars=48)
    r.meta["resolved_config"]["hedge"]["sizing"] = sizing
    assert _ratio_ylabel(r, tmp_path, monkeypatch) == label


def _caught(fn, result, tmp_path, monkeypatch):  # noqa: ANN001, ANN202
    from perphedge.report import charts

    seen: list = []
    monkeypatch.setattr(charts, "save_png", lambda fig, path: seen.append(fig) or path)
    fn(result, tmp_path / "x.png")
    return seen[0]


def test_many_liquidations_are_ticks_and_runaway_leverage_is_clipped(tmp_path, monkeypatch):
    import pandas as pd

    from perphedge.report.charts import margin_chart

    r = make_result(n_bars=24 * 10)
    times = r.timeseries.index[24:224]  # a liquidation every bar for 200 bars
    liq = pd.DataFrame({"time": times, "kind": "liquidation", "leg": 0, "coins": 0.0,
                        "usd": 0.0, "price": 2000.0})  # fmt: skip
    r.events = pd.concat([r.events, liq], ignore_index=True)
    r.timeseries.loc[times[::40], "leverage_0"] = 7.7e5  # emptied wallets: notional / ~0
    fig = _caught(margin_chart, r, tmp_path, monkeypatch)
    ax_lev = fig.axes[0]
    vertical = [ln for ax in fig.axes for ln in ax.lines if ln.get_linestyle() == "--"]
    assert vertical == []  # no 200 red lines across every panel
    labels = ax_lev.get_legend().get_texts()
    assert "liquidation (200, ticks)" in [t.get_text() for t in labels]
    assert ax_lev.get_ylim()[1] < 100  # the bulk (about 3x) stays readable
    assert [t.get_text() for t in ax_lev.texts] == ["off scale: max 7.7e+05x"]
    few = make_result(n_bars=24 * 10, liquidation_at=50)
    fig = _caught(margin_chart, few, tmp_path, monkeypatch)
    assert len([ln for ln in fig.axes[0].lines if ln.get_linestyle() == "--"]) == 1
    assert list(fig.axes[0].texts) == []
