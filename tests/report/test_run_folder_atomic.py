"""A run folder is complete or absent: a writer killed between any two files leaves nothing that
`report` or `compare` accepts; damaged folders are refused by name; `report` re-renders
nothing from an incomplete folder; the partial folders of dead writers are cleaned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_synth import make_result

from perphedge.cli.main import cli
from perphedge.errors import DataValidationError
from perphedge.report import load_run, write_outputs
from perphedge.report.rundir import (
    COMPLETE_FILE,
    build_atomically,
    clean_partials,
    partial_path,
    update_latest,
)

HERE = Path(__file__).resolve().parent

# a child that writes a synthetic run with write_run and stops for good after file N
CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {here!r})
from report_synth import make_result
from perphedge.runner import write_run

stop_after = sys.argv[2]
def hook(name, path):
    if name == stop_after:
        Path(sys.argv[3]).write_text(name)  # tell the parent: kill me now
        time.sleep(60)

r = make_result(n_bars=48)
r.meta.update(name="k", run_id="20240101T000000Z-abcdef12",
              resolved_config={{"outputs": {{"charts": False, "html": False}}}})
write_run(r, sys.argv[1], on_file=hook)
"""


def one_line(args: list[str], code: int = 2) -> str:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == code, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


@pytest.mark.parametrize("stop_after", ["config", "metrics", "timeseries", "events"])
def test_a_run_killed_while_writing_leaves_nothing_report_or_compare_accepts(
    tmp_path: Path, stop_after: str
) -> None:
    out, flag = tmp_path / "out", tmp_path / "flag"
    script = CHILD.format(here=str(HERE))
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(out), stop_after, str(flag)],
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert child.poll() is None, "the writer ended before reaching its pause"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    parent = out / "k"
    left = sorted(p.name for p in parent.iterdir())
    assert len(left) == 1 and left[0].startswith(".20240101T000000Z-abcdef12.")  # hidden partial
    assert not (parent / "20240101T000000Z-abcdef12").exists()
    assert not (parent / "latest").exists()
    partial = parent / left[0]
    for args in (["report", str(partial)], ["compare", str(partial), "--out", str(tmp_path / "c")]):
        line = one_line(args)
        assert f"{partial} is incomplete (no {COMPLETE_FILE}" in line
    assert not (tmp_path / "c").exists()
    # the next write of that name cleans the dead writer's partial folder (age limit 0 here)
    assert clean_partials(parent, stale_age_s=0) == [partial]
    assert list(parent.iterdir()) == []


def test_a_failing_write_removes_its_partial_folder(tmp_path: Path) -> None:
    final = tmp_path / "n" / "run1"
    final.parent.mkdir()

    def write(folder: Path) -> dict[str, Path]:
        (folder / "metrics.json").write_text("{}")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        build_atomically(final, write)
    assert list(final.parent.iterdir()) == []


def test_a_failing_write_removes_the_folders_it_made_and_only_those(tmp_path: Path) -> None:
    (tmp_path / "keep").mkdir()

    def write(folder: Path) -> dict[str, Path]:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        build_atomically(tmp_path / "keep" / "a" / "b" / "run1", write)
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]
    assert list((tmp_path / "keep").iterdir()) == []


def test_a_live_writers_partial_folder_is_kept(tmp_path: Path) -> None:
    live = partial_path(tmp_path / "run1")  # this process's pid: alive
    live.mkdir()
    assert clean_partials(tmp_path, stale_age_s=0) == []
    assert live.is_dir()


def test_latest_is_a_relative_link_replaced_by_the_newest(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        update_latest(tmp_path / name)
    assert os.readlink(tmp_path / "latest") == "b"


def test_latest_falls_back_to_a_text_file_where_links_cannot_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*_a: object, **_k: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_links)
    (tmp_path / "a").mkdir()
    assert update_latest(tmp_path / "a") == tmp_path / "LATEST"
    assert (tmp_path / "LATEST").read_text() == "a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LATEST", "a"]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "r"
    write_outputs(make_result(n_bars=48), d, charts=False, html=False)
    return d


def test_report_refuses_a_folder_with_events_missing_and_writes_nothing(run_dir: Path) -> None:
    (run_dir / "events.csv").unlink()
    before = sorted(p.name for p in run_dir.iterdir())
    line = one_line(["report", str(run_dir)])
    assert line == f"error: {run_dir} is incomplete: events.csv is missing; run it again"
    assert sorted(p.name for p in run_dir.iterdir()) == before
    assert list(run_dir.parent.glob(".*")) == []


def test_a_corrupt_timeseries_is_one_line_for_report_and_compare(run_dir: Path) -> None:
    path = run_dir / "timeseries.parquet"
    size = path.stat().st_size
    path.write_bytes(b"\0" * size)  # same size: only the reader can tell
    for args in (["report", str(run_dir)], ["compare", str(run_dir), "--out", str(run_dir / "c")]):
        line = one_line(args)
        assert line.startswith(f"error: {path} is not a readable Parquet file (")
        assert line.endswith("; run it again")
    with pytest.raises(DataValidationError, match="not a readable Parquet file"):
        load_run(run_dir)


def test_a_truncated_output_is_named(run_dir: Path) -> None:
    path = run_dir / "trades.csv"
    path.write_bytes(path.read_bytes()[:10])
    line = one_line(["compare", str(run_dir)])
    assert f"{run_dir} is damaged: trades.csv has 10 bytes" in line


def test_report_re_renders_a_complete_folder_in_place(run_dir: Path) -> None:
    res = CliRunner().invoke(cli, ["report", str(run_dir), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (run_dir / "report.html").is_file() and (run_dir / "equity.png").is_file()
    load_run(run_dir)  # the marker now lists the new files too
    assert [p.name for p in run_dir.parent.iterdir()] == ["r"]  # no staging folder left
