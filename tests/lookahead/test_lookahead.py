"""The run-time look-ahead check: a peeking policy is refused, shipped policies pass."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from perphedge.cli.main import cli
from perphedge.lookahead import LookaheadError, check_no_lookahead, cut_points, first_change
from perphedge.policy import PolicyContext, compute_targets
from perphedge.runner import lookahead_for, prepare, targets_for

REPO = Path(__file__).resolve().parents[2]
MONTH = ["period.start=2023-01-01", "period.end=2023-02-01"]
PEEK = '''
"""Hedges more before the basket falls: reads the value 24 bars ahead (look-ahead)."""

import numpy as np
import pandas as pd


def targets(ctx, *, lead: int = 24) -> np.ndarray:
    value = pd.Series(ctx.basket_value)
    ahead = value.shift(-lead).fillna(value)
    return np.where(ahead < value, 1.0, 0.5)
'''


def peek(ctx: PolicyContext, *, lead: int = 2) -> np.ndarray:
    """Targets equal to the basket value ``lead`` bars ahead (0 past the end)."""
    return pd.Series(ctx.basket_value).shift(-lead).fillna(0.0).to_numpy()


def small_context(n: int = 10) -> PolicyContext:
    return PolicyContext.from_arrays(
        times=pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC").as_unit("ns").asi8,
        bar_ns=3_600 * 10**9,
        spot_close=np.arange(1.0, n + 1.0),
        weights=[1.0],
        hedge_price=np.full((n, 1), 100.0),
        coin_usd=np.full((n, 1), 100.0),
        funding_rate=np.zeros((n, 1)),
        funding_events=np.zeros((n, 1), dtype=np.int64),
        legs=["binance ETH/USD:ETH"],
        base_ratio=1.0,
    )


def test_cut_points_spread_over_the_run():
    assert cut_points(100) == [20, 40, 60, 80]
    assert cut_points(10) == [2, 4, 6, 8]
    assert cut_points(3) == [2]  # a cut keeps at least two bars and drops at least one


def test_first_change_treats_nan_as_equal_and_names_row_and_leg():
    full = np.array([[np.nan, 1.0], [0.5, 1.0], [0.5, 2.0]])
    assert first_change(full, full[:2].copy(), 2) is None
    cut = np.array([[np.nan, 1.0], [0.5, 1.5]])
    change = first_change(full, cut, 2)
    assert (change.row, change.leg, change.full, change.cut_value) == (1, 1, 1.0, 1.5)


def test_peeking_policy_is_refused_naming_the_cut_and_the_first_changed_target():
    ctx = small_context()
    full = compute_targets(peek, ctx)
    # basket value 1..10: the full run targets row 0 at the value two bars ahead, 3; cut after
    # two bars (closing 02:00) the same row sees nothing ahead: 0
    with pytest.raises(
        LookaheadError,
        match=r"^policy\.name: policy 'peek' looks ahead: with the data cut after 2024-01-01 02:00 UTC "
        r"\(2 of 10 bars\) its earlier decisions change; the first target that changed is at "
        r"the bar opening 2024-01-01 00:00 UTC \(leg binance ETH/USD:ETH\): 3 with all the "
        r"data, 0 without the later bars\. A target may use only bars up to its own",
    ):
        check_no_lookahead(peek, ctx, {}, full, policy="peek")


def test_a_causal_policy_passes_every_cut():
    ctx = small_context()

    def trailing(c: PolicyContext) -> np.ndarray:
        return pd.Series(c.basket_value).rolling(3).mean().to_numpy()

    full = compute_targets(trailing, ctx)
    assert check_no_lookahead(trailing, ctx, {}, full, policy="trailing") == [2, 4, 6, 8]


@pytest.mark.parametrize(
    "config", ["eth_l1_basket", "eth_l1_fixed_half", "eth_l1_funding_aware", "eth_l1_scheduled"]
)
def test_shipped_policies_pass(config: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    from perphedge.config import load_config

    prepared = prepare(load_config(REPO / "configs" / f"{config}.yaml", MONTH))
    assert len(lookahead_for(prepared, targets_for(prepared))) == 4


@pytest.fixture
def peeking_project(tmp_path: Path) -> Path:
    """A config next to a strategies/ folder holding a policy that reads 24 bars ahead."""
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "peek.py").write_text(textwrap.dedent(PEEK), encoding="utf-8")
    raw = yaml.safe_load((REPO / "configs" / "eth_l1_fixed_half.yaml").read_text())
    raw["name"] = "peek"
    raw["policy"] = {"name": "peek", "params": {}}
    raw["data"] = {**raw.get("data", {}), "root": str(REPO / "data")}
    raw["period"] = {"start": "2023-01-01", "end": "2023-02-01"}
    raw["outputs"] = {"dir": str(tmp_path / "reports"), "charts": False, "html": False}
    path = tmp_path / "peek.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_backtest_run_refuses_a_peeking_policy_with_exit_2(peeking_project: Path) -> None:
    res = CliRunner().invoke(cli, ["run", str(peeking_project), "-q"])
    assert res.exit_code == 2, res.output
    assert "policy 'peek' looks ahead: with the data cut after 2023-01-07 05:00 UTC" in res.output
    assert "(149 of 744 bars)" in res.output
    assert "the first target that changed is at the bar opening" in res.output
    assert "1 with all the data, 0.5 without the later bars" in res.output
    assert not (peeking_project.parent / "reports").exists()


def test_no_lookahead_check_runs_it_and_says_so(peeking_project: Path) -> None:
    res = CliRunner().invoke(cli, ["run", str(peeking_project), "-q", "--no-lookahead-check"])
    assert res.exit_code == 0, res.output
    runs = (peeking_project.parent / "reports" / "peek").glob("*/metrics.json")
    (metrics,) = [m for m in runs if m.parent.name != "latest"]
    meta = json.loads(metrics.read_text())["meta"]
    assert meta["lookahead_check"] == {"checked": False, "cuts": []}
    assert any(
        n.startswith("look-ahead check skipped (--no-lookahead-check)") for n in meta["notes"]
    )


def test_python_api_refuses_or_skips_with_lookahead_check_false(peeking_project: Path) -> None:
    import perphedge

    with pytest.raises(LookaheadError, match=r"^policy\.name: policy 'peek' looks ahead"):
        perphedge.run(str(peeking_project))
    result = perphedge.run(str(peeking_project), lookahead_check=False)
    assert result.meta["lookahead_check"]["checked"] is False
    assert result.meta["notes"][-1].startswith("look-ahead check skipped")


def test_a_sweep_refuses_a_peeking_policy_in_its_rows(peeking_project: Path) -> None:
    from perphedge.sweep.pipeline import run_sweep

    grid = {
        "policy": {
            "fixed": {"policy.name": "fixed", "policy.params": {}},
            "peek": {"policy.name": "peek", "policy.params": {}},
        },
        "hedge.ratio": [0.5, 1.0],
    }
    t = run_sweep({"base": str(peeking_project), "sweep": {"grid": grid}}, serial=True).results
    assert list(t["status"]) == ["ok", "ok", "error", "error"]
    peeking = t[t["status"] == "error"]
    assert set(peeking["policy"]) == {"peek"}
    assert set(peeking["error_type"]) == {"LookaheadError"}
    assert (
        peeking["error"]
        .str.startswith("policy.name: policy 'peek' looks ahead: with the data cut")
        .all()
    )
