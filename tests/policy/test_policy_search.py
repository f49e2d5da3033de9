"""Where ``policy.name`` is looked up: the config's folder, its project root, the built-ins.

Nothing above the project and nothing from the working directory: a ``strategies/`` folder in
a grandparent or in the folder a command runs from must not replace a shipped policy. The run's
notes name the file that ran and say when a user file overrode a built-in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from perphedge.errors import StrategyError
from perphedge.policy import (
    PolicyContext,
    compute_targets,
    find_strategies_dirs,
    load_policy,
    policy_notes,
)
from perphedge.project import Shipped, project_root, shipped_dir

BUILTIN = shipped_dir(Shipped.STRATEGIES)
D = 86_400 * 10**9


def _policy(folder: Path, name: str, ratio: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(f"def targets(ctx):\n    return [{ratio}] * ctx.n_bars\n")
    return path


def _ctx() -> PolicyContext:
    return PolicyContext.from_arrays(
        times=np.arange(2, dtype=np.int64) * D,
        bar_ns=D,
        spot_close=np.ones((2, 1)),
        weights=[1.0],
        hedge_price=np.ones((2, 1)),
        coin_usd=np.ones((2, 1)),
        funding_rate=np.zeros((2, 1)),
        funding_events=np.zeros((2, 1), dtype=np.int64),
        legs=("L0",),
        base_ratio=1.0,
    )


def test_the_builtins_are_the_repository_strategies_in_a_checkout():
    assert (Path(__file__).resolve().parents[2] / "strategies").resolve() == BUILTIN


def test_project_root_is_the_nearest_project_folder(tmp_path):
    proj = tmp_path / "myhedge"
    for sub in ("configs", "strategies", "reports/basket/run1", "reports/grid/run2/configs"):
        (proj / sub).mkdir(parents=True)
    assert project_root(proj / "configs" / "x.yaml") == proj
    assert project_root(proj / "x.yaml") == proj
    assert project_root(proj / "reports/basket/run1/config.resolved.yaml") == proj
    assert project_root(proj / "reports/grid/run2/configs/combo.yaml") == proj  # 4 levels up
    (proj / "reports/grid/run2/configs/a/b").mkdir(parents=True)
    deep = proj / "reports/grid/run2/configs/a/b"
    assert project_root(deep / "x.yaml") == deep  # 6 levels up: not looked for
    loose = tmp_path / "loose"
    loose.mkdir()
    assert project_root(loose / "x.yaml") == loose
    (tmp_path / "bare" / "configs").mkdir(parents=True)  # configs/ alone: not a project
    assert project_root(tmp_path / "bare" / "configs" / "x.yaml") == tmp_path / "bare" / "configs"


def test_config_folder_then_project_then_builtins(tmp_path):
    config = tmp_path / "myhedge" / "configs" / "x.yaml"
    _policy(tmp_path / "myhedge" / "configs" / "strategies", "a", 0.1)
    _policy(tmp_path / "myhedge" / "strategies", "a", 0.2)
    assert find_strategies_dirs(config) == [
        (tmp_path / "myhedge" / "configs" / "strategies").resolve(),
        (tmp_path / "myhedge" / "strategies").resolve(),
        BUILTIN,
    ]
    fn = load_policy("a", find_strategies_dirs(config))
    assert compute_targets(fn, _ctx())[:, 0].tolist() == [0.1, 0.1]


def test_nothing_above_the_project_nor_the_working_directory(tmp_path, monkeypatch):
    _policy(tmp_path / "strategies", "fixed", 0.3)  # grandparent of the project
    _policy(tmp_path / "cwd" / "strategies", "fixed", 0.4)  # where the command runs
    monkeypatch.chdir(tmp_path / "cwd")
    config = tmp_path / "proj" / "configs" / "x.yaml"
    config.parent.mkdir(parents=True)
    assert find_strategies_dirs(config) == [BUILTIN]
    assert find_strategies_dirs(None) == [BUILTIN]
    assert policy_notes("fixed", find_strategies_dirs(config)) == [
        "policy 'fixed': the built-in policy"
    ]


def test_a_project_file_overrides_a_builtin_and_the_notes_say_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "myhedge" / "configs").mkdir(parents=True)
    _policy(tmp_path / "myhedge" / "strategies", "fixed", 0.25)
    _policy(tmp_path / "myhedge" / "strategies", "mine", 0.5)
    dirs = find_strategies_dirs(tmp_path / "myhedge" / "configs" / "x.yaml")
    fn = load_policy("fixed", dirs)
    assert compute_targets(fn, _ctx())[:, 0].tolist() == [0.25, 0.25]
    assert policy_notes("fixed", dirs) == [
        "policy 'fixed': myhedge/strategies/fixed.py (overrides the built-in policy of the "
        "same name)"
    ]
    assert policy_notes("mine", dirs) == ["policy 'mine': myhedge/strategies/mine.py"]


def test_unknown_name_says_where_it_looked(tmp_path):
    _policy(tmp_path / "p" / "strategies", "mine", 0.5)
    dirs = find_strategies_dirs(tmp_path / "p" / "x.yaml")
    with pytest.raises(StrategyError, match=r"no strategy 'nope' \(searched: .*/p/strategies, "
                       r"the built-in policies\); available: .*\bmine\b"):  # fmt: skip
        load_policy("nope", dirs)


def test_a_run_notes_the_policy_file(tmp_path, monkeypatch):
    """End to end through the runner: a run's meta notes name the user file that ran."""
    from perphedge.runner import run

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "proj"
    (project / "configs").mkdir(parents=True)
    _policy(project / "strategies", "fixed", 0.5)
    text = (repo / "configs" / "eth_l1_fixed_half.yaml").read_text()
    config = project / "configs" / "half.yaml"
    config.write_text(text)
    result = run(
        config,
        overrides=[f"data.root={repo / 'data'}", "period.end=2023-01-10"],
    )
    assert (
        "policy 'fixed': proj/strategies/fixed.py (overrides the built-in policy of the same name)"
        in result.meta["notes"]
    )
