"""Where a config's relative ``data.root`` is found: the working directory, the config's
folder, its project root (the folder holding ``configs/``); nowhere further up."""

from __future__ import annotations

from pathlib import Path

import pytest

from perphedge.errors import ConfigError
from perphedge.runner import resolve_data_root, run

REPO = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path) -> Path:
    config = tmp_path / "myhedge" / "configs" / "x.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("name: x\n")
    return config


def test_the_project_data_folder_is_found_from_anywhere(tmp_path, monkeypatch):
    config = _project(tmp_path)
    (tmp_path / "myhedge" / "data").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    assert resolve_data_root("data", config) == tmp_path / "myhedge" / "data"


def test_the_config_folder_comes_before_the_project(tmp_path, monkeypatch):
    config = _project(tmp_path)
    (tmp_path / "myhedge" / "data").mkdir()
    (tmp_path / "myhedge" / "configs" / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_data_root("data", config) == tmp_path / "myhedge" / "configs" / "data"


def test_the_working_directory_comes_first(tmp_path, monkeypatch):
    config = _project(tmp_path)
    (tmp_path / "myhedge" / "data").mkdir()
    (tmp_path / "cwd" / "data").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "cwd")
    assert resolve_data_root("data", config) == tmp_path / "cwd" / "data"


def test_nothing_above_the_project_and_absolute_roots_as_given(tmp_path, monkeypatch):
    config = _project(tmp_path)
    (tmp_path / "data").mkdir()  # beside the project, not in it
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    assert resolve_data_root("data", config) == tmp_path / "cwd" / "data"  # where a download goes
    assert resolve_data_root(str(tmp_path / "data"), config) == tmp_path / "data"


def test_a_config_outside_any_project_gets_a_clear_error(tmp_path, monkeypatch):
    config = tmp_path / "loose" / "basket.yaml"
    config.parent.mkdir()
    config.write_text((REPO / "configs" / "eth_l1_basket.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        run(config)
    assert str(info.value) == (
        f"data.root: no data folder at {tmp_path / 'data'} (a relative data.root is looked up in "
        "the working directory, then in the config's folder, then in its project root); start a "
        "project with the bundled sample data: backtest init DIR, or point data.root at a store "
        f"(the bundled sample store is {REPO / 'data'}), or fetch the config's data with: "
        "backtest download CONFIG"
    )
