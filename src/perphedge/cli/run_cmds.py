"""``backtest run``, ``report``, ``baseline save|check`` and ``compare``.

Thin wrappers: parsing arguments, calling :mod:`perphedge.runner`, :mod:`perphedge.baseline` and
:mod:`perphedge.report`, and printing. Errors are library exceptions; the ``backtest`` group turns
them into one line and an exit code (2 user error, 3 failed check).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from perphedge.errors import CheckFailed, ConfigError

MAX_WARNINGS_SHOWN = 3
_SET_HELP = (
    "Override a config key, e.g. --set hedge.ratio=0.5 or --set hedge.legs[0].kind=linear "
    "(value parsed as YAML; repeatable)."
)


def _overrides(sets: tuple[str, ...], start: str | None, end: str | None) -> list[str]:
    """--set items plus --start/--end as period overrides, in that order (all recorded)."""
    items = list(sets)
    if start:
        items.append(f"period.start={start}")
    if end:
        items.append(f"period.end={end}")
    return items


@click.command("run")
@click.argument("config", type=click.Path(path_type=Path))  # checked by the config loader
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--start", metavar="DATE", help="Override period.start (UTC), e.g. 2023-06-01.")
@click.option("--end", metavar="DATE", help="Override period.end (UTC, exclusive).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),  # checked when the run folder is made
    metavar="DIR",
    help="Write the run under DIR/<config-name>/<run-id>/ instead of outputs.dir (reports/).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars and no summary table.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print only one JSON object (metrics, warnings, file paths; NaN as null) and no "
    "progress bars: for scripts.",
)
@click.option(
    "--no-lookahead-check",
    "no_lookahead_check",
    is_flag=True,
    help="Skip re-computing the policy's targets on cut data (the check that refuses a policy "
    "reading later bars); the run's notes say it was skipped.",
)
def run_cmd(
    config: Path,
    sets: tuple[str, ...],
    start: str | None,
    end: str | None,
    out: Path | None,
    quiet: bool,
    as_json: bool,
    no_lookahead_check: bool,
) -> None:
    """Backtest CONFIG (a YAML file) and write its report folder.

    Prints a hedged-vs-unhedged summary and the path of report.html. Example:

        backtest run configs/eth_l1_basket.yaml --set hedge.ratio=0.5
    """
    from perphedge.report.plain import to_plain
    from perphedge.runner import run, write_run

    progress = not (quiet or as_json)  # --json is for scripts: nothing on stderr but errors
    result = run(
        config,
        overrides=_overrides(sets, start, end) or None,
        progress=progress,
        lookahead_check=not no_lookahead_check,
    )
    run_dir, paths = write_run(result, out, progress=progress)
    if as_json:
        payload = {
            "name": result.meta.get("name"),
            "run_id": result.meta.get("run_id"),
            "run_dir": str(run_dir),
            "config_hash": result.meta.get("config_hash"),
            "data_fingerprint": result.meta.get("data_fingerprint"),
            "metrics": result.metrics,
            "warnings": result.meta.get("warnings", []),
            "files": {k: str(v) for k, v in paths.items()},
        }
        # strict JSON, as in metrics.json: NaN and infinities (e.g. the Sharpe ratio of a
        # run shorter than two days) are null
        click.echo(json.dumps(to_plain(payload), allow_nan=False))
        return
    report = paths.get("html", run_dir)
    if not quiet:
        from perphedge.report import summary_table
        from perphedge.report.summary import group_warnings, price_source_table

        click.echo(summary_table(result))
        sources = price_source_table(result)
        if sources:
            click.echo("")
            click.echo(sources)
        warnings = group_warnings(list(result.meta.get("warnings", []) or []))
        for warning in warnings[:MAX_WARNINGS_SHOWN]:
            click.echo(f"warning: {warning}")
        if len(warnings) > MAX_WARNINGS_SHOWN:
            click.echo(f"warning: ... and {len(warnings) - MAX_WARNINGS_SHOWN} more in the report")
    click.echo(f"report: {report}")


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))  # checked by load_run
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary table.")
def report_cmd(run_dir: Path, quiet: bool) -> None:
    """Re-render the charts and report.html of a finished run from its output files.

    RUN_DIR is one run's folder (the one holding metrics.json), as printed by 'backtest run'.
    Nothing is re-simulated: use it after changing the report code or to restore a deleted chart.
    Example:

    \b
        backtest report reports/eth_l1_basket/20240101T120000Z-1a2b3c4d
    """
    from perphedge.report import load_run, summary_table

    result = load_run(run_dir)  # refuses an incomplete or damaged folder, naming it
    paths = rerender(result, run_dir, progress=not quiet)
    if not quiet:
        click.echo(summary_table(result))
    click.echo(f"report: {paths['html']}")


def rerender(result: Any, run_dir: Path, *, progress: bool) -> dict[str, Path]:
    """Write ``result``'s files into a hidden folder beside ``run_dir``, then move them in one
    ``os.replace`` each (marker last): a kill leaves every file whole, old or new."""
    import shutil

    from perphedge.report import write_outputs
    from perphedge.report.rundir import partial_path, replace_files

    outputs = (result.meta.get("resolved_config") or {}).get("outputs") or {}
    staging = partial_path(run_dir)
    try:
        paths = write_outputs(
            result, staging, csv=bool(outputs.get("csv", False)), progress=progress
        )
        replace_files(staging, run_dir)
    except OSError as exc:  # e.g. an archived, read-only run folder
        shutil.rmtree(staging, ignore_errors=True)
        reason = exc.strerror or type(exc).__name__
        raise ConfigError("RUN_DIR", f"cannot write into {run_dir}: {reason}") from None
    return {k: run_dir / Path(p).relative_to(staging) for k, p in paths.items()}


@click.group("baseline")
def baseline_group() -> None:
    """Regression baselines: pin a config's metrics and equity curve, then check reruns.

    \b
        backtest baseline save configs/eth_l1_basket.yaml   # writes baselines/eth_l1_basket.json
        backtest baseline check                             # reruns every baselined config
    """


_baseline_dir_option = click.option(
    "--dir",
    "directory",
    default="baselines",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the baseline files.",
)


@baseline_group.command("save")
@click.argument("configs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@_baseline_dir_option
def baseline_save(configs: tuple[Path, ...], sets: tuple[str, ...], directory: Path) -> None:
    """Run each CONFIG and write baselines/<name>.json (metrics, tolerances, equity digest).

    Commit the file with the change that caused it. Example:

    \b
        backtest baseline save configs/eth_l1_basket.yaml configs/btc_spot_hedge.yaml
    """
    from perphedge import baseline

    for cfg in configs:
        path = baseline.save(cfg, overrides=list(sets) or None, directory=directory)
        click.echo(f"saved {path}")


@baseline_group.command("check")
@click.argument("configs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@_baseline_dir_option
def baseline_check(configs: tuple[Path, ...], sets: tuple[str, ...], directory: Path) -> None:
    """Rerun CONFIGs (default: every config with a baseline); exit 3 if any metric drifted.

    Prints one line per config checked and one per metric that moved beyond its tolerance.
    --set changes the rerun (not the baseline), e.g. to see a check fail:

    \b
        backtest baseline check
        backtest baseline check configs/eth_l1_basket.yaml --set 'hedge.legs[0].taker_fee=0.001'
    """
    from perphedge import baseline

    failed: list[Path] = []
    checked: list[Path] = []

    def report(cfg_path: Path, drifts: list) -> None:
        shown = _shown_path(cfg_path)
        checked.append(cfg_path)
        if not drifts:
            click.echo(f"ok    {shown}")
            return
        failed.append(cfg_path)
        click.echo(f"DRIFT {shown}: {len(drifts)} metric(s) moved", err=True)
        for drift in drifts:
            click.echo(f"drift: {drift}", err=True)

    drifts = baseline.check(
        list(configs) or None,
        overrides=list(sets) or None,
        directory=directory,
        on_checked=report,
    )
    if drifts:
        names = sorted({d.config for d in drifts})
        save = " ".join(_shown_path(p) for p in failed)
        raise CheckFailed(
            f"{len(drifts)} metric(s) drifted beyond tolerance in {', '.join(names)}; "
            f"if the change is intended, run: backtest baseline save {save}"
        )
    click.echo(f"baselines ok ({len(checked)} config(s))")


def _check_can_create(folder: Path) -> None:
    """Fail early, without creating anything, when ``folder`` could not be made: its nearest
    existing ancestor is a file, or not writable."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError("--out", f"cannot create {folder}: Not a directory")
    if probe.is_dir() and not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError("--out", f"cannot create {folder}: Permission denied")


def _shown_path(path: Path) -> str:
    """A path relative to the working directory when it is inside it (shorter, copyable)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


@click.command("compare")
@click.argument("items", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Folder for the comparison table and chart (default reports/compare/<UTC time>).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def compare_cmd(
    items: tuple[Path, ...], sets: tuple[str, ...], out: Path | None, quiet: bool
) -> None:
    """Put runs side by side: each item is a finished run folder or a config to run now.

    Prints one table (a column per run) and writes compare.csv, compare.html and an overlay
    chart of the equity curves (compare_equity.png). --set applies to the configs only.
    Examples:

    \b
        backtest compare configs/eth_l1_basket.yaml configs/eth_l1_fixed_half.yaml
        backtest compare reports/eth_l1_basket/<run-id> configs/eth_l1_basket_only.yaml
    """
    from perphedge.report import load_run
    from perphedge.runner import MarketCache, run

    if out is None:
        out = Path("reports") / "compare" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    _check_can_create(out)  # before any run: a bad --out should not cost the runs
    cache = MarketCache()
    results: list[tuple[str, Any]] = []
    labels: set[str] = set()
    for item in items:
        if item.is_dir():
            result = load_run(item)
            label = f"{result.meta.get('name', item.parent.name)}/{item.name}"
        elif item.suffix.lower() in (".yaml", ".yml"):  # a missing file: the loader says so
            result = run(item, overrides=list(sets) or None, cache=cache, progress=not quiet)
            label = str(result.meta.get("name", item.stem))
        elif not item.exists():
            raise ConfigError("", f"no run folder or config {item}")
        else:
            raise ConfigError("", f"{item} is neither a run folder nor a .yaml config")
        base, n = label, 2
        while label in labels:
            label = f"{base} ({n})"
            n += 1
        labels.add(label)
        results.append((label, result))
    table, paths = _write_comparison(results, out)
    click.echo(table)
    for path in paths.values() if isinstance(paths, dict) else paths:
        click.echo(f"wrote {path}")


def _write_comparison(results: list[tuple[str, Any]], out: Path) -> tuple[str, dict[str, Path]]:
    """compare_runs into ``out``: a new folder is built hidden and renamed when complete (as a
    run folder); into an existing folder the files are written in place."""
    from perphedge.report import compare_runs
    from perphedge.report.rundir import build_atomically

    table: list[str] = []

    def write(folder: Path) -> dict[str, Path]:
        text, paths = compare_runs(results, folder)
        table.append(text)
        return dict(paths)

    try:
        if out.is_dir():
            return compare_runs(results, out)
        paths = build_atomically(out, write)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError("--out", f"cannot create {out}: {reason}") from None
    return table[0], paths


COMMANDS: list[click.Command] = [run_cmd, report_cmd, baseline_group, compare_cmd]
