"""``backtest data list|check|import``: inspect, validate and fill the local Parquet store."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

import click
import pandas as pd

from perphedge.data.freqtrade import exchange_from_folder, parse_freqtrade_name, scan_folder
from perphedge.data.importers import (
    CsvSpec,
    Label,
    combine_frames,
    read_csv_frame,
    read_freqtrade_frame,
    slice_frame,
)
from perphedge.data.loader import read_checked
from perphedge.data.merge import ImportPlan, Prefer, WriteMode, commit_import, plan_import
from perphedge.data.store import SeriesKey, Store, check_exchange_id
from perphedge.data.validate import ValidationReport
from perphedge.domain import InstrumentKind, MarketType, Series, Timeframe
from perphedge.errors import CheckFailed, ConfigError, DataError, DataValidationError

_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("data"),
    show_default=True,
    help="Root of the Parquet store.",
)


def _fmt(ts: pd.Timestamp | None) -> str:
    return "-" if ts is None else ts.strftime("%Y-%m-%d %H:%M")


def _existing(data_dir: Path) -> Path:
    """The store folder, which must exist (a typo should not read as an empty store)."""
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError("--data-dir", f"{data_dir} is a file, not a folder")
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

    Checks: readable Parquet, UTC timestamps, sorted and unique, no impossible times (before
    2009-01-03 or after tomorrow), no NaN or inf, positive prices, high/low consistent, bars on
    the timeframe grid, funding within 3 % per interval and events at least a minute apart,
    every metadata field. Gaps and odd funding intervals are warnings (exit 0). Example:

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
@click.argument("paths", nargs=-1, required=True)
@_DATA_DIR
@click.option(
    "--exchange",
    default=None,
    help="ccxt exchange id, e.g. binance (or a custom venue name of a-z, 0-9, _); "
    "for a freqtrade folder, default: the folder's name.",
)
@click.option(
    "--symbol",
    default=None,
    help="ccxt symbol, e.g. ETH/USDT or ETH/USD:ETH; default for freqtrade files: from the name.",
)
@click.option(
    "--series",
    type=click.Choice([s.value for s in Series]),
    default=None,
    help="What the files hold (needed with --symbol).",
)
@click.option("--timeframe", default=None, help="Bar length for candles, e.g. 1h, 8h.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "csv", "freqtrade"]),
    default="auto",
    show_default=True,
    help="auto: .csv is CSV, .feather/.json/.json.gz/.parquet are freqtrade files.",
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
    help="Unit of epoch-number times (always UTC); default: read from their magnitude.",
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
@click.option(
    "--prefer",
    type=click.Choice([p.value for p in Prefer]),
    default=None,
    help="With --merge: which value wins where a stored row differs from an imported one "
    "(without it such rows are refused).",
)
def import_cmd(
    paths: tuple[str, ...],
    data_dir: Path,
    exchange: str | None,
    symbol: str | None,
    series: str | None,
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
    prefer: str | None,
) -> None:
    """Import files into the store: CSV or freqtrade files, a glob, or a freqtrade folder.

    Every file is read and the complete result validated in memory before anything is
    written; on any problem the store is left exactly as it was. Each series lands at
    <data-dir>/<exchange>/<spot|swap>/<SYMBOL>-<timeframe>-<series>.parquet (docs/data.md).
    Examples:

    \b
        backtest data import eth.csv --exchange binance --symbol ETH/USDT --series ohlcv \\
            --timeframe 1h --time-column date --timezone Europe/London
        backtest data import 'dumps/ETHUSDT-1h-2023-*.csv' --exchange binance \\
            --symbol ETH/USDT --series ohlcv --timeframe 1h
        backtest data import ~/freqtrade/user_data/data/binance
        backtest data import ETH_USDT_USDT-8h-funding_rate.feather --exchange binance --merge
    """
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError("--data-dir", f"{data_dir} is a file, not a folder")
    if exchange is not None:
        try:
            check_exchange_id(exchange)
        except ValueError as exc:
            raise ConfigError("--exchange", str(exc)) from None
    files = expand_paths(paths)
    folders = [f for f in files if f.is_dir()]
    if prefer is not None and merge is False:
        raise ConfigError("--prefer", "goes with --merge; --replace overwrites the whole file")
    if prefer is not None:
        merge = True
    notes: list[str] = []
    if folders:
        if len(files) > 1 or symbol or series or fmt == "csv":
            raise ConfigError(
                "data import",
                f"{folders[0]} is a folder; a freqtrade data folder is imported alone, without "
                "--symbol/--series/--format csv (give files to import them as one series)",
            )
        jobs, skipped, exchange = _freqtrade_folder_jobs(folders[0], exchange, notes)
    else:
        if exchange is None:
            raise ConfigError("--exchange", "give the exchange id, e.g. --exchange binance")
        jobs, skipped = _file_jobs(files, exchange, symbol, series, timeframe, fmt, notes), []
    spec = None
    if any(_is_csv(f, fmt) for job in jobs for f in job.files):
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
    store = Store(data_dir)
    mode = {None: WriteMode.NEW, True: WriteMode.MERGE, False: WriteMode.REPLACE}[merge]
    for job in jobs:
        if mode is WriteMode.NEW and store.exists(job.key):
            raise ConfigError(
                "data import",
                f"{store.path(job.key)} already exists; pass --merge to union the rows with it "
                "or --replace to overwrite it",
            )
    plans = []
    for job in jobs:
        frame = slice_frame(_read_job(job, fmt, spec), start, end)
        what = ", ".join(str(f) for f in job.files)
        if len(frame) == 0:
            window = f" in [{start or '...'}, {end or '...'})" if (start or end) else ""
            raise DataValidationError(f"{what}: no rows to import{window}; nothing written")
        meta = _job_meta(job.key, kind, contract_size, source, what, notes)
        plans.append(
            plan_import(
                store,
                job.key,
                frame,
                meta,
                mode=mode,
                prefer=None if prefer is None else Prefer(prefer),
                what=what,
            )
        )
    written = []
    try:
        for plan in plans:
            written.append(commit_import(store, plan))
    except OSError as exc:  # a read-only store, a file where a folder should be, ...
        reason = exc.strerror or type(exc).__name__
        done = f" ({len(written)} of {len(plans)} series written before)" if written else ""
        raise ConfigError("--data-dir", f"cannot write into {data_dir}: {reason}{done}") from None
    for plan in plans:
        click.echo(_plan_line(plan, prefer))
    for path, reason in skipped:
        click.echo(f"skipped {path}: {reason}")
    for note in dict.fromkeys(notes):
        click.echo(f"note: {note}")
    for plan in plans:
        for warning in plan.warnings:
            click.echo(f"warning: {plan.key}: {warning}")


@dataclass(frozen=True)
class _Job:
    """Files that together make one stored series."""

    key: SeriesKey
    files: tuple[Path, ...]


_GLOB_CHARS = re.compile(r"[*?\[]")


def expand_paths(args: tuple[str, ...]) -> list[Path]:
    """Arguments as paths: existing files or folders, or glob patterns (sorted matches).
    A pattern that matches nothing, or a path that does not exist, is a user error."""
    out: list[Path] = []
    for arg in args:
        path = Path(arg).expanduser()
        if path.exists():
            out.append(path)
        elif _GLOB_CHARS.search(arg):
            matches = sorted(Path(m) for m in glob.glob(str(path)) if Path(m).is_file())
            if not matches:
                raise ConfigError("data import", f"no file matches {arg}")
            out.extend(matches)
        else:
            raise ConfigError("data import", f"no file or folder {arg}")
    return list(dict.fromkeys(out))


def _is_csv(path: Path, fmt: str) -> bool:
    if fmt != "auto":
        return fmt == "csv"
    return path.suffix.lower() in (".csv", ".txt")


def _freqtrade_folder_jobs(
    folder: Path, exchange: str | None, notes: list[str]
) -> tuple[list[_Job], list[tuple[Path, str]], str]:
    if exchange is None:
        exchange = exchange_from_folder(folder)
        if exchange is None:
            raise ConfigError(
                "--exchange", f"cannot tell the exchange from the folder name {folder.name!r}"
            )
        notes.append(f"exchange {exchange} taken from the folder name (--exchange to change)")
    found, skipped = scan_folder(folder)
    if not found:
        raise ConfigError(
            "data import",
            f"no freqtrade data files in {folder} or {folder / 'futures'} "
            "(PAIR-TIMEFRAME[-TYPE].feather|.parquet|.json|.json.gz)",
        )
    jobs = [_Job(_key(exchange, f.symbol, f.series, f.timeframe), (f.path,)) for f in found]
    return _merge_jobs(jobs), skipped, exchange


def _file_jobs(
    files: list[Path],
    exchange: str,
    symbol: str | None,
    series: str | None,
    timeframe: str | None,
    fmt: str,
    notes: list[str],
) -> list[_Job]:
    if symbol is None:
        if series is not None:
            raise ConfigError("--symbol", "--series needs --symbol (the files' market)")
        jobs = []
        for path in files:
            if _is_csv(path, fmt):
                raise ConfigError("--symbol", f"give --symbol and --series for CSV file {path}")
            try:
                found = parse_freqtrade_name(path)
            except ValueError as exc:
                raise ConfigError(
                    "--symbol", f"{path.name}: {exc}; give --symbol and --series"
                ) from None
            if timeframe is not None and found.series.is_candles:
                tf = Timeframe.parse(timeframe)
            else:
                tf = found.timeframe
            jobs.append(_Job(_key(exchange, found.symbol, found.series, tf), (path,)))
        return _merge_jobs(jobs)
    if series is None:
        raise ConfigError("--series", "--symbol needs --series (ohlcv, mark, index or funding)")
    if timeframe is None and Series(series).is_candles:
        named = {_timeframe_in_name(f.name) for f in files}
        timeframe = named.pop() if len(named) == 1 else None
        if timeframe is None:
            raise ConfigError(
                "--timeframe", f"series '{series}' needs the bar length, e.g. --timeframe 1h"
            )
        notes.append(f"timeframe {timeframe} taken from the file name (--timeframe to change)")
    tf = Timeframe.parse(timeframe) if timeframe and Series(series).is_candles else None
    return [_Job(_key(exchange, symbol, Series(series), tf), tuple(files))]


def _key(exchange: str, symbol: str, series: Series, tf: Timeframe | None) -> SeriesKey:
    try:
        return SeriesKey(exchange, symbol, series, tf)
    except ValueError as exc:
        raise ConfigError("data import", str(exc)) from None


def _merge_jobs(jobs: list[_Job]) -> list[_Job]:
    """Files that map to the same series (a .json and a .feather copy) become one job."""
    by_key: dict[SeriesKey, list[Path]] = {}
    for job in jobs:
        by_key.setdefault(job.key, []).extend(job.files)
    return [_Job(key, tuple(files)) for key, files in by_key.items()]


def _read_job(job: _Job, fmt: str, spec: CsvSpec | None) -> pd.DataFrame:
    """Every file of a job read and combined; files that disagree on a time are refused."""
    frames = []
    for path in job.files:
        try:
            if _is_csv(path, fmt) and spec is not None:  # spec exists whenever a CSV does
                frames.append(read_csv_frame(path, job.key.series, spec, job.key.timeframe))
            else:
                frames.append(read_freqtrade_frame(path, job.key.series))
        except IsADirectoryError:
            raise ConfigError("data import", f"{path} is a folder, not a file") from None
        except OSError as exc:
            raise ConfigError("data import", f"cannot read {path}: {exc.strerror}") from None
    return combine_frames(frames, job.files)


def _job_meta(
    key: SeriesKey,
    kind: str | None,
    contract_size: float | None,
    source: str | None,
    what: str,
    notes: list[str],
) -> dict[str, object]:
    meta: dict[str, object] = {"source": source or what}
    if kind is None and key.market_type is MarketType.SWAP:
        kind = symbol_kind(key.symbol).value
        notes.append(f"{key.symbol} recorded as {kind} (from the symbol; --kind to change)")
    if kind is not None:
        meta["kind"] = kind
    if contract_size is not None:
        meta["contract_size"] = contract_size
    elif kind == InstrumentKind.INVERSE.value:
        notes.append(
            "no --contract-size given; a run hedging with it must set "
            "hedge.legs[i].contract_size (USD per contract)"
        )
    return meta


def _plan_line(plan: ImportPlan, prefer: str | None) -> str:
    f = plan.frame
    span = f"{_fmt(f.index[0])} .. {_fmt(f.index[-1])} UTC"
    c = plan.counts
    if not plan.existed:
        how = "new file"
    elif not plan.merged:
        how = "replaced"
    else:
        won = f" ({prefer} values kept)" if c.differing else ""
        how = f"merged: {c.added} added, {c.differing} differing{won}, {c.same} unchanged"
    verb = "wrote" if plan.changes_file else "kept"
    return f"{verb} {plan.path}: {len(f)} rows, {span} ({plan.key}; {how})"


COMMANDS = [data]
