"""``backtest sweep``: run a grid of configs in parallel and write the ranked report.

Imports only click at module level: the ``backtest`` group loads every command module at start-up,
and pandas, matplotlib and dask are needed only once a sweep actually runs.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("sweep")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write under DIR/<sweep-name>/<run-id>/ instead of the base config's outputs.dir.",
)
@click.option(
    "--scheduler",
    metavar="tcp://HOST:PORT",
    help="Run on an existing Dask distributed scheduler instead of a local process pool.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes in the local pool (default: all cores).",
)
@click.option("--serial", is_flag=True, help="Run every combination in this process, in order.")
@click.option("--rank-by", metavar="METRIC", help="Metric to rank by (default: sweep.rank_by).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no table; print the path.")
@click.option(
    "--max-combinations",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    metavar="N",
    help="Refuse a grid of more than N combinations (checked before anything is expanded).",
)
def sweep_cmd(
    config: Path,
    out: Path | None,
    scheduler: str | None,
    workers: int | None,
    serial: bool,
    rank_by: str | None,
    quiet: bool,
    max_combinations: int,
) -> None:
    """Run every combination of the sweep in CONFIG and write its report folder.

    CONFIG is a run config with a 'sweep:' section, or a sweep file whose 'base:' names a run
    config (see docs/sweeps.md). Every grid key and value is checked before anything runs.
    Writes results.parquet/.csv (one row per combination), a ranked table, heat maps, a
    risk/return scatter, the best equity curves, report.html, and configs/<combo_id>.yaml for
    re-running any one combination with 'backtest run'. Exit code 2 for a bad sweep or config,
    1 if every combination failed. Example:

        backtest sweep configs/eth_l1_sweep.yaml --rank-by hedged_sharpe
    """
    from perphedge.sweep.pipeline import run_sweep
    from perphedge.sweep.report import write_sweep
    from perphedge.sweep.results import STATUS_OK, ranked_table

    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise click.BadParameter(
            "expected an address like tcp://HOST:PORT", param_hint="--scheduler"
        )
    if out is not None:
        from perphedge.cli.run_cmds import _check_can_create

        _check_can_create(out)  # before any run: a bad --out should not cost the sweep
    run = run_sweep(
        config,
        rank_by=rank_by,
        serial=serial,
        scheduler=scheduler,
        workers=workers,
        progress=not quiet,
        preload=("perphedge.report", "perphedge.sweep.charts"),
        max_combinations=max_combinations,
    )
    folder = write_sweep(run, out)
    if not quiet:
        click.echo(ranked_table(run.results, run.spec, top=max(10, run.spec.top)))
        click.echo("")
        rate = len(run.results) / run.elapsed_s if run.elapsed_s > 0 else float("inf")
        click.echo(
            f"{len(run.results)} runs in {run.elapsed_s:.1f} s ({rate:.1f} runs/s, "
            f"{run.executor}, {run.workers} worker(s))"
        )
    click.echo(f"report: {folder / 'report.html'}")
    if not run.results["status"].eq(STATUS_OK).any():
        raise click.ClickException(
            f"all {len(run.results)} combinations failed; see {folder / 'results.csv'}"
        )


COMMANDS = [sweep_cmd]
