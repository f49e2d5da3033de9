"""Golden tests: every shipped config reproduces its committed baseline (baselines/*.json).

A change of results must be deliberate: rerun `backtest baseline save configs/<name>.yaml` and
commit the diff of the baseline file with the change that caused it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perphedge import baseline
from perphedge.config import load_config, load_raw

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if "base" not in load_raw(p))


def test_every_shipped_config_has_a_baseline() -> None:
    names = {load_config(p).name for p in CONFIGS}
    have = {p.stem for p in (REPO / "baselines").glob("*.json")}
    assert names - have == set()


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_matches_its_baseline(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    drifts = baseline.check([config], directory=REPO / "baselines")
    assert [str(d) for d in drifts] == []
