"""A config copied outside the project still finds the shipped strategies."""

from pathlib import Path

from perphedge.policy import find_strategies_dirs, load_policy

REPO = Path(__file__).resolve().parents[2]


def test_config_outside_the_project_falls_back_to_the_shipped_strategies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./strategies here or above the config
    config = tmp_path / "elsewhere" / "my.yaml"
    config.parent.mkdir()
    config.write_text("name: x\n")
    dirs = find_strategies_dirs(config)
    assert dirs == [(REPO / "strategies").resolve()]
    assert callable(load_policy("fixed", dirs))


def test_a_local_strategies_folder_comes_first(tmp_path, monkeypatch):
    local = tmp_path / "strategies"
    local.mkdir()
    (local / "fixed.py").write_text("def targets(ctx):\n    return ctx.base_ratio\n")
    monkeypatch.chdir(tmp_path)
    dirs = find_strategies_dirs(tmp_path / "cfg.yaml")
    assert dirs[0] == local.resolve() and dirs[-1] == (REPO / "strategies").resolve()
