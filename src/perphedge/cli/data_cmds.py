"""``backtest data list|check|import``: inspect, validate and fill the local Parquet store."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from perphedge.data.importers import (
    CsvSpec,
    Label,
    import_csv,
    import_freqtrade,
)
from perphedge.data.store import SeriesKey, Store
from perphedge.data.validate import ValidationReport, validate_frame
from perphedge.domain import InstrumentKind, Series, Timeframe
from perphedge.errors import CheckFailed, ConfigError, DataError

_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data"),
    show_default=True,
    help="Root of the Parquet store.",
)


def _fmt(ts: pd.Timestamp | None) -> str:
    return "-" if ts is None else ts.strftime("%Y-%m-%d %H:%M")


def _validate_file(store: Store, key: SeriesKey) -> ValidationReport:
    path = store.path(key)
    frame, _ = store.read(key)
    return validate_frame(frame, key.series, key.timeframe, label=str(path))


@click.group("data")
def data() -> None:
    """Inspect, check and import market data in the local store."""


@data.command("list")
@_DATA_DIR
def list_cmd(data_dir: Path) -> None:
    """Show every cached series: span (UTC), rows, gaps."""
    store = Store(data_dir)
    files = list(store.iter_files())
    if not files:
        click.echo(f"no data files under {data_dir}")
        return
    header = f"{'exchange':<8} {'symbol':<15} {'series':<7} {'tf':<4} {'first (UTC)':<16}  "
    header += f"{'last (UTC)':<16} {'rows':>7} {'gaps':>5} {'missing':>7}  kind"
    click.echo(header)
    for key, _path in files:
        tf = str(key.timeframe) if key.timeframe else "-"
        try:
            report = _validate_file(store, key)
            meta = store.read_meta(key)
        except DataError as exc:
            click.echo(f"{key.exchange:<8} {key.symbol:<15} {key.series.value:<7} {tf:<4} {exc}")
            continue
        status = "" if report.ok else "  INVALID"
        click.echo(
            f"{key.exchange:<8} {key.symbol:<15} {key.series.value:<7} {tf:<4} "
            f"{_fmt(report.first):<16}  {_fmt(report.last):<16} {report.rows:>7} "
            f"{len(report.gaps):>5} {report.missing_bars:>7}  {meta.get('kind') or '-'}{status}"
        )


@data.command("check")
@_DATA_DIR
def check_cmd(data_dir: Path) -> None:
    """Validate every file; exit 3 listing the problems if any file fails."""
    store = Store(data_dir)
    files = list(store.iter_files())
    if not files:
        raise CheckFailed(f"no data files under {data_dir}")
    problems: list[str] = []
    for key, path in files:
        try:
            report = _validate_file(store, key)
        except DataError as exc:
            problems.append(str(exc))
            continue
        if report.ok:
            note = (
                f" ({len(report.warnings)} warning(s): {report.warnings[0]})"
                if report.warnings
                else ""
            )
            click.echo(f"OK   {path}  {report.rows} rows{note}")
        else:
            problems.append(f"{path}: {'; '.join(report.errors)}")
    if problems:
        for line in problems:
            click.echo(f"FAIL {line}", err=True)
        raise CheckFailed(
            f"{len(problems)} of {len(files)} data file(s) failed validation: {problems[0]}"
        )
    click.echo(f"{len(files)} file(s) OK")


def _parse_map(items: tuple[str, ...]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        target, sep, source = item.partition("=")
        if not sep or not target.strip():
            raise ConfigError("--map", f"expected TARGET=SOURCE (e.g. open=Open), got {item!r}")
        out[target.strip()] = source.strip() or None
    return out


def _parse_filters(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        col, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("--where", f"expected COLUMN=VALUE, got {item!r}")
        out[col.strip()] = value
    return out


@data.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_DATA_DIR
@click.option("--exchange", required=True, help="ccxt exchange id, e.g. binance.")
@click.option("--symbol", required=True, help="ccxt symbol, e.g. ETH/USDT or ETH/USD:ETH.")
@click.option(
    "--series", type=click.Choice([s.value for s in Series]), required=True, help="What it holds."
)
@click.option("--timeframe", default=None, help="Bar length for candles, e.g. 1h, 8h.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "csv", "freqtrade"]),
    default="auto",
    show_default=True,
    help="auto: .csv is CSV, .feather/.json/.parquet are freqtrade files.",
)
@click.option("--time-column", default="timestamp", show_default=True, help="CSV time column.")
@click.option(
    "--map",
    "mapping",
    multiple=True,
    help="CSV column mapping TARGET=SOURCE, e.g. --map open=Open_futures; volume= for none.",
)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="Zone of naive CSV times: UTC, UTC+3, +05:30, Europe/London, ...",
)
@click.option("--time-unit", type=click.Choice(["s", "ms", "us", "ns"]), default=None)
@click.option("--time-format", default=None, help="strftime format of CSV time strings.")
@click.option(
    "--label",
    type=click.Choice([lab.value for lab in Label]),
    default="open",
    show_default=True,
    help="Whether CSV times name the bar open or the bar close.",
)
@click.option("--skiprows", type=int, default=0, show_default=True, help="Lines before header.")
@click.option("--where", "filters", multiple=True, help="Keep CSV rows with COLUMN=VALUE.")
@click.option("--start", default=None, help="Keep rows from this UTC time on.")
@click.option("--end", default=None, help="Keep rows before this UTC time.")
@click.option("--kind", type=click.Choice([k.value for k in InstrumentKind]), default=None)
@click.option("--contract-size", type=float, default=None, help="USD per inverse contract.")
@click.option("--source", default=None, help="Provenance note stored in the metadata.")
@click.option("--merge/--replace", default=False, help="Merge with an existing file.")
def import_cmd(
    file: Path,
    data_dir: Path,
    exchange: str,
    symbol: str,
    series: str,
    timeframe: str | None,
    fmt: str,
    time_column: str,
    mapping: tuple[str, ...],
    timezone: str,
    time_unit: str | None,
    time_format: str | None,
    label: str,
    skiprows: int,
    filters: tuple[str, ...],
    start: str | None,
    end: str | None,
    kind: str | None,
    contract_size: float | None,
    source: str | None,
    merge: bool,
) -> None:
    """Import FILE (CSV or freqtrade) into the store."""
    try:
        tf = Timeframe.parse(timeframe) if timeframe else None
        key = SeriesKey(exchange, symbol, Series(series), tf)
    except ValueError as exc:
        raise ConfigError("data import", str(exc)) from None
    if fmt == "auto":
        fmt = "csv" if file.suffix.lower() in (".csv", ".txt") else "freqtrade"
    meta = {"kind": kind, "contract_size": contract_size}
    if source:
        meta["source"] = source
    store = Store(data_dir)
    if fmt == "csv":
        spec = CsvSpec(
            time_column=time_column,
            columns=_parse_map(mapping),
            timezone=timezone,
            time_unit=time_unit,
            time_format=time_format,
            label=Label(label),
            skiprows=skiprows,
            filters=_parse_filters(filters),
        )
        path = import_csv(store, key, file, spec, meta, start=start, end=end, merge=merge)
    else:
        path = import_freqtrade(store, key, file, meta, start=start, end=end, merge=merge)
    report = _validate_file(store, key)
    click.echo(f"wrote {path}: {report.rows} rows, {_fmt(report.first)} .. {_fmt(report.last)} UTC")
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    if not report.ok:
        raise CheckFailed(f"imported file fails validation: {'; '.join(report.errors)}")


COMMANDS = [data]
