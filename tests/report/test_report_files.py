"""write_outputs / load_run: every file, JSON safety, byte-for-byte determinism, round trip."""

from __future__ import annotations

import io
import json
import math
import sys

import numpy as np
import pandas as pd
import pytest
from report_synth import make_result

from perphedge.domain import Counterfactual, Timeframe
from perphedge.engine.types import Result
from perphedge.errors import DataValidationError, MissingDataError
from perphedge.report import load_run, summary_table, write_outputs
from perphedge.report.charts import equity_chart
from perphedge.report.rundir import write_marker

EXPECTED_FILES = {
    "config": "config.resolved.yaml",
    "metrics": "metrics.json",
    "timeseries": "timeseries.parquet",
    "trades": "trades.csv",
    "events": "events.csv",
    "equity": "equity.png",
    "hedge_ratio": "hedge_ratio.png",
    "margin": "margin.png",
    "costs": "costs.png",
    "attribution": "attribution.png",
    "html": "report.html",
}


@pytest.fixture(scope="module")
def result():
    return make_result(n_bars=24 * 40, liquidation_at=24 * 20 + 5)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, result):
    d = tmp_path_factory.mktemp("run") / "20261121T100000Z-ab12cd34"
    paths = write_outputs(result, d)
    return d, paths


def test_write_outputs_writes_every_file(run_dir):
    d, paths = run_dir
    assert {k: p.name for k, p in paths.items()} == EXPECTED_FILES
    for p in paths.values():
        assert p.parent == d
        assert p.is_file() and p.stat().st_size > 0, p


def test_metrics_json_content(run_dir, result):
    d, _ = run_dir
    doc = json.loads((d / "metrics.json").read_text())
    assert sorted(doc) == ["attribution", "meta", "metrics", "notes", "schema"]
    assert doc["metrics"]["n_liquidations"] == 1
    assert doc["metrics"]["hedge_effectiveness"] == 0.7312
    assert doc["attribution"]["total"] == pytest.approx(result.attribution["total"], rel=1e-15)
    assert "resolved_config" not in doc["meta"]
    assert "run_id" not in doc["meta"]  # carries the start time; two runs must match
    assert doc["meta"]["timeframe"] == "1h"
    assert doc["meta"]["sources"][1]["rows"] == 120
    assert doc["notes"] == ["USDT taken as 1 USD"]


def test_metrics_json_is_json_safe(tmp_path, result):
    r = make_result(n_bars=48)
    r.metrics["hedged_sortino"] = float("nan")
    r.metrics["hedged_sharpe"] = np.float64(1.25)
    r.metrics["n_trades"] = np.int64(7)
    r.metrics["max_leverage"] = float("inf")
    r.meta["counterfactual_kind"] = Counterfactual.BASKET
    r.meta["timeframe"] = Timeframe.parse("1h")
    r.meta["period"] = (pd.Timestamp("2023-01-01", tz="UTC"), pd.Timestamp("2023-01-03", tz="UTC"))
    write_outputs(r, tmp_path, charts=False, html=False)
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text)
    assert doc["metrics"]["hedged_sortino"] is None
    assert doc["metrics"]["max_leverage"] is None
    assert doc["metrics"]["hedged_sharpe"] == 1.25
    assert doc["metrics"]["n_trades"] == 7 and isinstance(doc["metrics"]["n_trades"], int)
    assert doc["meta"]["counterfactual_kind"] == "basket"
    assert doc["meta"]["timeframe"] == "1h"
    assert doc["meta"]["period"] == ["2023-01-01T00:00:00+00:00", "2023-01-03T00:00:00+00:00"]


def test_two_writes_are_byte_identical(tmp_path, result):
    a = write_outputs(result, tmp_path / "a", charts=False, html=False)
    # a second run of the same config differs only in its run id (the folder name)
    other = make_result(n_bars=24 * 40, liquidation_at=24 * 20 + 5)
    other.meta["run_id"] = "20261121T110000Z-ab12cd34"
    b = write_outputs(other, tmp_path / "b", charts=False, html=False)
    for name in ("metrics", "timeseries", "config", "trades", "events"):
        assert a[name].read_bytes() == b[name].read_bytes(), name
    # charts carry no time stamp either
    pa, pb = equity_chart(result, tmp_path / "a.png"), equity_chart(other, tmp_path / "b.png")
    assert pa.read_bytes() == pb.read_bytes()


def test_load_run_round_trips(run_dir, result):
    d, _ = run_dir
    back = load_run(d)
    pd.testing.assert_frame_equal(back.timeseries, result.timeseries, check_freq=False)
    assert str(back.timeseries.index.dtype) == "datetime64[ns, UTC]"
    assert back.timeseries.index.name == "timestamp"
    pd.testing.assert_frame_equal(back.trades, result.trades)
    pd.testing.assert_frame_equal(back.events, result.events)
    assert back.attribution == result.attribution
    assert back.metrics == result.metrics
    assert back.notes == result.notes
    assert back.meta["resolved_config"] == result.meta["resolved_config"]
    assert back.meta["run_id"] == d.name
    assert back.meta["sources"] == result.meta["sources"]


def test_load_run_null_metric_comes_back_nan(tmp_path):
    r = make_result(n_bars=30)
    r.metrics["hedged_sortino"] = float("nan")
    write_outputs(r, tmp_path, charts=False, html=False)
    assert math.isnan(load_run(tmp_path).metrics["hedged_sortino"])


def test_no_trades_round_trip(tmp_path):
    r = make_result(n_bars=50, trades=False)
    assert len(r.trades) == 0
    paths = write_outputs(r, tmp_path, charts=False)
    assert paths["trades"].read_text() == (
        "time,leg_or_coin,instrument,side,qty,price,fee_usd,slippage_usd,reason\n"
    )
    back = load_run(tmp_path)
    assert list(back.trades.columns) == list(r.trades.columns) and len(back.trades) == 0


def test_load_run_missing_folder_names_the_file(tmp_path):
    with pytest.raises(MissingDataError, match=r"^no run folder .*nope \(create one with"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        MissingDataError, match=r"metrics\.json not found: .*empty is not a finished run folder"
    ):
        load_run(tmp_path / "empty")


def test_load_run_corrupt_metrics(tmp_path):
    r = make_result(n_bars=30)
    write_outputs(r, tmp_path, charts=False, html=False)
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(DataValidationError, match=r"is damaged: metrics\.json has 9 bytes"):
        load_run(tmp_path)
    write_marker(tmp_path)  # same damage, recorded as if written so: the JSON reader names it
    with pytest.raises(DataValidationError, match=r"metrics\.json is not valid JSON"):
        load_run(tmp_path)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_goes_to_a_terminal_stderr_only(tmp_path, capsys, monkeypatch):
    write_outputs(make_result(n_bars=30), tmp_path, charts=False, progress=True)
    assert capsys.readouterr().err == ""  # captured stderr is no terminal: no bar in logs
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    write_outputs(make_result(n_bars=30), tmp_path, charts=False, progress=True)
    err = term.getvalue()
    assert capsys.readouterr().out == ""
    # one step per file; the bar clears itself at the end (leave=False), the last step shown
    assert "report:" in err and "/6 [" in err and "html" in err
    term.seek(0)
    term.truncate()
    write_outputs(make_result(n_bars=30), tmp_path, charts=False, progress=False)
    assert term.getvalue() == ""


def test_rewriting_a_loaded_run_gives_the_same_bytes(run_dir, tmp_path):
    """`backtest report RUN_DIR` re-renders from the files; the data files must not drift."""
    d, _ = run_dir
    again = write_outputs(load_run(d), tmp_path, charts=False, html=False)
    for name in ("config", "metrics", "timeseries", "trades", "events"):
        assert again[name].read_bytes() == (d / again[name].name).read_bytes(), name


def test_minimal_result_still_reports(tmp_path):
    """Only the two equity columns, ledgers without columns, no metrics: every file is written."""
    idx = pd.date_range("2024-01-01", periods=5, freq="1D", tz="UTC")
    ts = pd.DataFrame({"equity_hedged": [1.0, 2, 3, 2, 1], "equity_unhedged": [1.0] * 5}, index=idx)
    r = Result(timeseries=ts, trades=pd.DataFrame(), events=pd.DataFrame(), attribution={})
    paths = write_outputs(r, tmp_path)
    assert set(paths) == set(EXPECTED_FILES)
    # an empty ledger has the same columns as a full one (the engine's EVENT_COLUMNS)
    assert paths["events"].read_text() == (
        "time,kind,leg,coins,usd,price,contracts,target_ratio,actual_ratio\n"
    )
    assert "no hedge legs" not in paths["html"].read_text()  # that text is inside the PNGs
    assert summary_table(r).splitlines()[3].split() == ["Total", "return", "n/a", "n/a"]
