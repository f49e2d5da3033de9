"""Executing sweeps: the same table from every executor, failures kept in their rows, data
loaded once per worker. Small grids over two weeks of hourly bars keep this quick."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perphedge
from perphedge.sweep.execute import ProcessExecutor, Runtime, SerialExecutor
from perphedge.sweep.pipeline import load_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[2]
BASE = str(ROOT / "configs" / "eth_l1_basket.yaml")
SHORT = {"period.start": "2023-01-01", "period.end": "2023-01-15"}


def _sweep(grid: dict, **section) -> dict:
    return {"base": BASE, "set": SHORT, "sweep": {"grid": grid, **section}}


GRID = {"hedge.ratio": [0, 0.5, 1.0], "rebalance.every": ["8h", "1d"]}


@pytest.fixture(scope="module")
def serial_table() -> pd.DataFrame:
    return run_sweep(_sweep(GRID), serial=True).results


def test_serial_table_shape_and_hand_checked_facts(serial_table):
    t = serial_table
    assert list(t["combo_id"]) == [f"c000{i}" for i in range(6)]
    assert list(t["hedge.ratio"]) == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    assert list(t["rebalance.every"]) == ["8h", "1d"] * 3
    assert set(t["status"]) == {"ok"}
    # ratio 0 buys no collateral and opens no short: the hedged side is the unhedged basket,
    # and its only trades are the six spot purchases of the basket coins at the start
    zero = t[t["hedge.ratio"] == 0.0]
    assert (zero["hedged_total_return"] == zero["unhedged_total_return"]).all()
    assert list(zero["n_trades"]) == [6, 6]
    assert (t.loc[t["hedge.ratio"] > 0, "n_trades"] > 6).all()
    # the unhedged side does not depend on the hedge: one value for all six rows
    assert t["unhedged_total_return"].nunique() == 1
    # rank 1..6 follows hedged_sharpe from highest to lowest, ties in combination order
    order = t.sort_values(["hedged_sharpe", "combo_id"], ascending=[False, True], kind="stable")
    assert list(order["rank"]) == [1, 2, 3, 4, 5, 6]


def test_rows_equal_single_runs(serial_table):
    # each row's metrics are exactly those of `perphedge.run` on that combination's config
    loaded = load_sweep(_sweep(GRID))
    for planned in (loaded.planned[2], loaded.planned[5]):
        result = perphedge.run(planned.config)
        row = serial_table.set_index("combo_id").loc[planned.combination.combo_id]
        for key, value in result.metrics.items():
            assert row[key] == value or (np.isnan(row[key]) and np.isnan(value)), key


@pytest.mark.parametrize("start_method", [None, "forkserver"])
def test_process_pool_gives_the_identical_table(serial_table, start_method):
    # None: fork when single-threaded (the CLI's case); forkserver: workers import everything
    # themselves and receive pickled configs, as on Python 3.14+ or from a threaded notebook
    pool = ProcessExecutor(2, start_method=start_method)
    run = run_sweep(_sweep(GRID), executor=pool)
    pooled = run.results
    # one data set in this grid: each worker read it at most once (not once per combination)
    assert 1 <= len(run.data_loads) <= 2
    assert set(run.data_loads.values()) == {1}
    pd.testing.assert_frame_equal(pooled, serial_table, check_exact=True)


def test_dask_local_cluster_gives_the_identical_table(serial_table):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        via_address = run_sweep(_sweep(GRID), scheduler=cluster.scheduler_address).results
        via_client = run_sweep(_sweep(GRID), scheduler=client).results
    pd.testing.assert_frame_equal(via_address, serial_table, check_exact=True)
    pd.testing.assert_frame_equal(via_client, serial_table, check_exact=True)


def test_broken_parameter_is_reported_in_its_row_and_the_rest_complete():
    # a negative reduced_ratio has the right type, so validation passes; the strategy rejects it
    # when it runs. Its two rows carry the error; the other four finish normally.
    grid = {
        "policy": {
            "fixed": {"policy.name": "fixed", "policy.params": {}},
            "broken": {"policy.name": "funding_aware", "policy.params": {"reduced_ratio": -1.0}},
        },
        "hedge.ratio": [0.5, 1.0],
    }
    run = run_sweep(_sweep(grid), executor=ProcessExecutor(2))
    t = run.results
    assert list(t["status"]) == ["ok", "ok", "error", "error"]
    broken = t[t["status"] == "error"]
    assert set(broken["policy"]) == {"broken"}
    assert set(broken["error_type"]) == {"StrategyError"}
    assert set(broken["error"]) == {"policy.params.reduced_ratio: must be >= 0, got -1.0"}
    assert broken["hedged_sharpe"].isna().all() and broken["rank"].isna().all()
    assert t.loc[t["status"] == "ok", "hedged_final_equity"].gt(0).all()
    assert list(t.loc[t["status"] == "ok", "rank"]) in ([1, 2], [2, 1])


def test_market_data_loaded_once_per_worker():
    # four combinations over one data spec, two over another (the linear leg): two loads
    runtime = Runtime()
    grid = {"hedge.legs[0].kind": ["inverse", "linear"], "hedge.ratio": [0.5, 0.75, 1.0]}
    run = run_sweep(_sweep(grid), executor=SerialExecutor(runtime))
    assert set(run.results["status"]) == {"ok"}
    assert runtime.market.loads == 2


def test_periods_are_a_dimension():
    sweep = _sweep(
        {"hedge.ratio": [0.5]},
        periods=[["2023-01-01", "2023-01-08"], ["2023-01-08", "2023-01-15"]],
    )
    t = run_sweep(sweep, serial=True).results
    assert list(t["period_start"]) == ["2023-01-01", "2023-01-08"]
    assert list(t["period_end"]) == ["2023-01-08", "2023-01-15"]
    # different weeks, different markets: the unhedged returns differ
    assert t["unhedged_total_return"].nunique() == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs the fork start method")
def test_a_dying_worker_fails_only_rows_it_did_not_finish(monkeypatch):
    # the pool forks after this patch, so the workers inherit it: the combination with ratio
    # 0.75 kills its worker process outright (as a segfault or the OOM killer would)
    import os

    from perphedge.sweep import execute

    real = execute.Runtime.run

    def dying(self, config, options):
        if config.hedge.ratio == 0.75:
            os._exit(3)
        return real(self, config, options)

    monkeypatch.setattr(execute.Runtime, "run", dying)
    pool = ProcessExecutor(2, start_method="fork")  # forked workers inherit the patch
    t = run_sweep(_sweep({"hedge.ratio": [0.25, 0.5, 0.75, 1.0]}), executor=pool)
    assert list(t.results["combo_id"]) == ["c0000", "c0001", "c0002", "c0003"]
    dead = t.results.set_index("combo_id").loc["c0002"]
    assert (dead["status"], dead["error_type"]) == ("error", "WorkerFailed")
    assert dead["error"].startswith("the worker running this chunk failed: BrokenProcessPool")
    for _, row in t.results.iterrows():
        assert row["status"] == "ok" or row["error_type"] == "WorkerFailed"
