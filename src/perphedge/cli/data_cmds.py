"""``backtest data list|check|import``: inspect, validate and fill the local Parquet store."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pandas as pd

from perphedge.data.importers import (
    CsvSpec,
    Label,
    import_csv,
    import_freqtrade,
)
from perphedge.data.loader import read_checked
from perphedge.data.store import SeriesKey, Store
from perphedge.data.validate import ValidationReport
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


def _existing(data_dir: Path) -> Path:
    """The store folder, which must exist (a typo should not read as an empty store)."""
    if not data_dir.is_dir():
        raise ConfigError("--data-dir", f"no folder {data_dir}")
    return data_dir


def _validate_file(store: Store, key: SeriesKey) -> ValidationReport:
    return read_checked(store, key)[2]


@click.group("data")
def data() -> None:
    """Inspect, check and import market data in the local store (data/ by default).

    \b
        backtest data list
        backtest data check
        backtest data import my_eth.csv --exchange binance --symbol ETH/USDT --series ohlcv \\
            --timeframe 1h
    """


@data.command("list")
@_DATA_DIR
def list_cmd(data_dir: Path) -> None:
    """Show every cached series: span (UTC bar opens), rows, gaps, missing bars, kind.

    A file that cannot be read is listed with the reason. Example:

    \b
        backtest data list --data-dir data
    """
    store = Store(_existing(data_dir))
    files = list(store.iter_files())
    ignored = store.unrecognised_files()
    if not files:
        click.echo(f"no data files under {data_dir}")
        _echo_ignored(ignored)
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
    _echo_ignored(ignored)


def _echo_ignored(paths: list[Path]) -> None:
    """Name the Parquet files the store skips, so a misnamed file is not silently invisible."""
    for path in paths:
        click.echo(
            f"ignored {path}: not <exchange>/<spot|swap>/<SYMBOL>-<timeframe>-<series>.parquet "
            "or <SYMBOL>-funding.parquet (docs/data.md)"
        )


@data.command("check")
@_DATA_DIR
def check_cmd(data_dir: Path) -> None:
    """Validate every file; exit 3 listing the problems if any file fails.

    Checks: readable Parquet, UTC timestamps, sorted and unique, no NaN, positive prices,
    high/low consistent, bars on the timeframe grid. Gaps and odd funding intervals are warnings
    (exit 0). Example:

    \b
        backtest data check --data-dir data
    """
    store = Store(_existing(data_dir))
    files = list(store.iter_files())
    _echo_ignored(store.unrecognised_files())
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


_TF_IN_NAME = re.compile(r"-(\d+[mhdw])(?=[-.])")


def _timeframe_in_name(name: str) -> str | None:
    """The bar length in a freqtrade-style file name (``ETH_USDT-1h-mark.feather`` -> 1h)."""
    m = _TF_IN_NAME.search(name)
    return m.group(1) if m else None


def symbol_kind(symbol: str) -> InstrumentKind:
    """ccxt convention: a swap settled in its base coin is inverse, otherwise linear."""
    pair, _, settle = symbol.partition(":")
    return InstrumentKind.INVERSE if settle == pair.partition("/")[0] else InstrumentKind.LINEAR


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
@click.option(
    "--time-unit",
    type=click.Choice(["s", "ms", "us", "ns"]),
    default=None,
    help="Unit of epoch-number times (always UTC), e.g. ms for 1672531200000.",
)
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
@click.option(
    "--kind",
    type=click.Choice([k.value for k in InstrumentKind]),
    default=None,
    help="Margin type of a perpetual; default: from the symbol (ETH/USD:ETH inverse, "
    "ETH/USDT:USDT linear).",
)
@click.option(
    "--contract-size",
    type=float,
    default=None,
    help="USD per inverse contract (Binance COIN-M: BTC 100, others 10), or lot step in coins.",
)
@click.option("--source", default=None, help="Provenance note stored in the metadata.")
@click.option(
    "--merge/--replace",
    default=None,
    help="When the store already has this series: union with it, or overwrite it (one of the "
    "two is required then, so a stored or bundled file is never replaced by accident).",
)
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
    merge: bool | None,
) -> None:
    """Import FILE (CSV or freqtrade feather/json/parquet) into the store.

    The file lands at <data-dir>/<exchange>/<spot|swap>/<SYMBOL>-<timeframe>-<series>.parquet
    (see docs/data.md). Examples:

    \b
        backtest data import eth.csv --exchange binance --symbol ETH/USDT --series ohlcv \\
            --timeframe 1h --time-column date --timezone Europe/London
        backtest data import ETH_USDT_USDT-1h-funding_rate.feather --exchange binance \\
            --symbol ETH/USDT:USDT --series funding
    """
    if fmt == "auto":
        fmt = "csv" if file.suffix.lower() in (".csv", ".txt") else "freqtrade"
    notes: list[str] = []
    if timeframe is None and Series(series).is_candles:
        timeframe = _timeframe_in_name(file.name)
        if timeframe is None:
            raise ConfigError(
                "--timeframe", f"series '{series}' needs the bar length, e.g. --timeframe 1h"
            )
        notes.append(f"timeframe {timeframe} taken from the file name (--timeframe to change)")
    try:
        tf = Timeframe.parse(timeframe) if timeframe else None
        key = SeriesKey(exchange, symbol, Series(series), tf)
    except ValueError as exc:
        raise ConfigError("data import", str(exc)) from None
    if kind is None and ":" in symbol:
        kind = symbol_kind(symbol).value
        notes.append(f"{symbol} recorded as {kind} (from the symbol; --kind to change)")
    meta = {"kind": kind, "contract_size": contract_size}
    if source:
        meta["source"] = source
    store = Store(data_dir)
    if merge is None:
        if store.exists(key):
            raise ConfigError(
                "data import",
                f"{store.path(key)} already exists; pass --merge to union the rows with it or "
                "--replace to overwrite it",
            )
        merge = False
    try:
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
    except OSError as exc:  # a read-only store, a file where a folder should be, ...
        reason = exc.strerror or type(exc).__name__
        if exc.filename and Path(exc.filename).resolve() == file.resolve():
            raise ConfigError("FILE", f"cannot read {file}: {reason}") from None
        raise ConfigError("--data-dir", f"cannot write into {data_dir}: {reason}") from None
    report = _validate_file(store, key)
    click.echo(f"wrote {path}: {report.rows} rows, {_fmt(report.first)} .. {_fmt(report.last)} UTC")
    for note in notes:
        click.echo(f"note: {note}")
    if kind == InstrumentKind.INVERSE.value and contract_size is None and not merge:
        click.echo(
            "note: no --contract-size given; a run hedging with it must set "
            "hedge.legs[i].contract_size (USD per contract)"
        )
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    if not report.ok:
        raise CheckFailed(f"imported file fails validation: {'; '.join(report.errors)}")


COMMANDS = [data]
