"""Basket weights the config accepts (sum within 1e-6) must also run: the runner normalises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from perphedge.config import load_config
from perphedge.runner import prepare, run

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "eth_l1_fixed_half.yaml"
OVERRIDES = {
    "period.start": "2023-01-01",
    "period.end": "2023-01-03",
    "basket.coins": {"SOL": 0.3333333, "AVAX": 0.3333333, "NEAR": 0.3333333},
}


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def test_weights_summing_to_one_within_the_config_tolerance_run():
    # 3 x 0.3333333 = 0.9999999: within the config's 1e-6 tolerance, so the config loads; the
    # engine needs an exact sum (1e-9). The runner divides by the sum: each weight becomes 1/3.
    # (Before the fix the run stopped with "basket.weights: weights must be non-negative and sum
    # to 1" although the config had been accepted.)
    cfg = load_config(CONFIG, OVERRIDES)
    p = prepare(cfg, config_path=CONFIG)
    np.testing.assert_allclose(p.weights, [1 / 3, 1 / 3, 1 / 3], rtol=1e-12)
    assert abs(p.weights.sum() - 1.0) <= 1e-12
    r = run(cfg, config_path=CONFIG)
    assert r.meta["weights"] == pytest.approx({"SOL": 1 / 3, "AVAX": 1 / 3, "NEAR": 1 / 3})
