"""Every price source named: the per-leg table and the cross-venue substitute warning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from perphedge.cli.main import cli
from perphedge.data import SeriesKey, Store
from perphedge.domain import InstrumentKind
from perphedge.market import LegSpec, PriceOrigin, PriceRole, basis_pct, build_market
from perphedge.report.html import build_run_page
from perphedge.report.summary import price_source_rows, price_source_table
from perphedge.runner import price_sources_meta, run

INV = {"kind": "inverse", "contract_size": 100.0}


def flat(idx: pd.DatetimeIndex, closes) -> pd.DataFrame:
    c = np.asarray(closes, dtype=float)
    return pd.DataFrame(
        {"open": c, "high": c + 1, "low": c - 1, "close": c, "volume": 1.0},
        index=pd.DatetimeIndex(idx, name="timestamp"),
    )


@pytest.fixture
def store(tmp_path) -> Store:
    """Binance 1h BTC/USDT spot (close 100 + h); Bybit BTC/USD:BTC inverse perp with only 8h
    candles, closing 1 % above, level with and 2 % below Binance at 08:00, 16:00 and 24:00."""
    s = Store(tmp_path / "data")
    hours = pd.date_range("2024-01-01", periods=24, freq="1h", tz="UTC")
    s.write(SeriesKey("binance", "BTC/USDT", "ohlcv", "1h"), flat(hours, 100.0 + np.arange(24)))
    eights = pd.date_range("2024-01-01", periods=3, freq="8h", tz="UTC")
    perp = flat(eights, [107.0 * 1.01, 115.0, 123.0 * 0.98])
    s.write(SeriesKey("bybit", "BTC/USD:BTC", "ohlcv", "8h"), perp, INV)
    fund = pd.DataFrame({"funding_rate": 1e-4}, index=pd.DatetimeIndex(eights, name="timestamp"))
    s.write(SeriesKey("bybit", "BTC/USD:BTC", "funding"), fund, INV)
    return s


def test_basis_is_measured_at_common_close_times():
    got = basis_pct(
        np.array([1, 2, 3, 4]),
        np.array([10.0, 20.0, 30.0, 40.0]),
        np.array([2, 4, 9]),
        np.array([25.0, 40.0, 1.0]),
    )
    assert got == (pytest.approx(10.0), pytest.approx(20.0), 2)  # |20/25-1| = 20 %, 0 %
    assert basis_pct(np.array([1]), np.array([1.0]), np.array([2]), np.array([1.0])) is None


def test_cross_venue_spot_substitute_is_a_warning_with_its_basis(store):
    _, info = build_market(
        store,
        timeframe="1h",
        start="2024-01-01",
        end="2024-01-02",
        spot_exchange="binance",
        coins=["BTC"],
        legs=[LegSpec("bybit", "BTC/USD:BTC", InstrumentKind.INVERSE)],
    )
    trade, mark, high = info.legs[0].price_sources
    assert [p.role for p in (trade, mark, high)] == [
        PriceRole.TRADE,
        PriceRole.MARK,
        PriceRole.LIQUIDATION_HIGH,
    ]
    for p in (trade, mark, high):
        assert (p.venue, p.market.value, p.symbol, p.series.value, p.timeframe) == (
            "binance",
            "spot",
            "BTC/USDT",
            "ohlcv",
            "1h",
        )
        assert p.origin is PriceOrigin.SUBSTITUTE and p.warning
        # Binance closes 107, 115, 123 at 08:00, 16:00, 24:00 against Bybit 108.07, 115,
        # 120.54: gaps |1/1.01 - 1| = 0.990 %, 0 %, |1/0.98 - 1| = 2.041 %; median 0.990 %
        assert p.basis_points == 3
        assert p.basis_median_pct == pytest.approx(100 * (1 - 1 / 1.01))
        assert p.basis_max_pct == pytest.approx(100 * (1 / 0.98 - 1))
        assert p.compared_with == "bybit BTC/USD:BTC ohlcv 8h"
    assert info.warnings == (
        "bybit BTC/USD:BTC: trade, mark and liquidation high price from Binance spot BTC/USDT "
        "1h, a substitute from another venue and another market type; its gap to bybit "
        "BTC/USD:BTC ohlcv 8h (the basis the run ignores) is median 0.990%, largest 2.041% "
        "over 3 common closes",
    )
    rows = price_source_rows(price_sources_meta(info))
    assert rows[1] == [
        "bybit BTC/USD:BTC",
        "mark",
        "binance",
        "spot",
        "BTC/USDT ohlcv",
        "1h",
        "substitute (WARNING)",
        "0.990% / 2.041%",
    ]


def test_a_run_shows_the_table_in_summary_metrics_and_report(store, tmp_path):
    raw = {
        "name": "bybit_leg",
        "period": {"start": "2024-01-01", "end": "2024-01-02"},
        "data": {"root": str(store.root)},
        "basket": {"coins": {"BTC": 1.0}},
        "hedge": {"legs": [{"exchange": "bybit", "symbol": "BTC/USD:BTC"}]},
    }
    result = run(raw)
    assert result.meta["warnings"][0].startswith("bybit BTC/USD:BTC: trade, mark and liquidation")
    sources = result.meta["price_sources"]
    assert [s["role"] for s in sources] == ["trade", "mark", "liquidation high"]
    assert sources[0]["origin"] == "substitute" and sources[0]["basis_points"] == 3
    table = price_source_table(result).splitlines()
    assert table[0].startswith("Price sources")
    assert table[1].split() == [
        "leg",
        "price",
        "venue",
        "market",
        "series",
        "timeframe",
        "origin",
        "basis",
    ]
    assert "liquidation high" in table[-1] and table[-1].endswith("0.990% / 2.041%")
    html = build_run_page(result, {}).render()
    assert "Where each price comes from" in html and "substitute (WARNING)" in html
    # the numeric metrics that baselines pin are untouched by the new section
    assert all(not isinstance(v, (list, dict)) for v in result.metrics.values())


def test_backtest_run_prints_the_table_and_the_cross_venue_warning(store, tmp_path):
    raw = {
        "name": "bybit_leg",
        "period": {"start": "2024-01-01", "end": "2024-01-02"},
        "data": {"root": str(store.root)},
        "basket": {"coins": {"BTC": 1.0}},
        "hedge": {"legs": [{"exchange": "bybit", "symbol": "BTC/USD:BTC"}]},
        "outputs": {"dir": str(tmp_path / "reports"), "charts": False, "html": False},
    }
    path = tmp_path / "bybit_leg.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    res = CliRunner().invoke(cli, ["run", str(path)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    title = lines.index("Price sources (basis = median / largest gap to the leg's own prices)")
    assert lines[title + 1].split()[:2] == ["leg", "price"]
    rows = [line.split() for line in lines[title + 3 : title + 6]]
    assert [r[2] for r in rows] == ["trade", "mark", "liquidation"]
    assert rows[0][-5:] == ["substitute", "(WARNING)", "0.990%", "/", "2.041%"]
    assert (
        "warning: bybit BTC/USD:BTC: trade, mark and liquidation high price from Binance spot "
        "BTC/USDT 1h, a substitute from another venue and another market type; its gap to "
        "bybit BTC/USD:BTC ohlcv 8h (the basis the run ignores) is median 0.990%, largest "
        "2.041% over 3 common closes"
    ) in lines
