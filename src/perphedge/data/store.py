"""The Parquet store: one file per (exchange, symbol, series, timeframe) under a root folder.

Layout (see docs/ARCHITECTURE.md and docs/data.md)::

    <root>/<exchange>/<market_type>/<SAFE_SYMBOL>-<timeframe>-<series>.parquet   candles
    <root>/<exchange>/<market_type>/<SAFE_SYMBOL>-funding.parquet                funding

Frames have a ``timestamp`` index of dtype ``datetime64[ns, UTC]``. The metadata dict is stored
as JSON in the Parquet schema metadata under the key ``b"perphedge"``. Writes are atomic: a
temporary file in the same folder is written, fsynced and renamed over the target, so a reader
never sees half a file and a killed writer leaves the previous file intact.

This module does I/O and schema normalisation only; content checks live in ``validate.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from perphedge import __version__
from perphedge.domain import MarketType, Series, Timeframe, safe_symbol
from perphedge.errors import ConfigError, DataValidationError, MissingDataError

META_KEY = b"perphedge"
INDEX_NAME = "timestamp"
CANDLE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
FUNDING_COLUMNS: tuple[str, ...] = ("funding_rate", "mark_price", "interval_hours")
FUNDING_REQUIRED: tuple[str, ...] = ("funding_rate",)
META_FIELDS: tuple[str, ...] = (
    "exchange",
    "symbol",
    "market_type",
    "kind",
    "contract_size",
    "series",
    "timeframe",
    "source",
    "mark_substitute",
    "fetched_at",
    "library",
)
DEFAULT_SINCE = "2023-01-01"
_SUFFIX = ".parquet"
# Every ccxt exchange id is lowercase letters and digits; a custom venue may add underscores.
EXCHANGE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
# A ccxt symbol: BASE/QUOTE, BASE/QUOTE:SETTLE, optionally -EXPIRY (YYMMDD) and an option's
# -STRIKE-C|P. Currencies are letters and digits (ccxt also uses '.' in a few, never first).
_CCY = r"[A-Za-z0-9][A-Za-z0-9.]*"
SYMBOL_RE = re.compile(rf"^{_CCY}/{_CCY}(?::{_CCY}(?:-\d{{6}}(?:-\d+(?:\.\d+)?-[CP])?)?)?$")


def download_command(
    exchange: str,
    symbol: str,
    series: Sequence[Series | str],
    timeframe: Timeframe | str | None = None,
    since: Any = None,
    until: Any = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> str:
    """A ``backtest download`` command line that the command's own parser accepts.

    ``since``/``until`` (UTC) become ``--since``/``--until`` (midnight as a plain date);
    ``--timeframe`` is given only when a candle series is asked for; ``data_dir`` becomes
    ``--data-dir``. Values are quoted for the shell where needed.
    """
    kinds = [Series(s) for s in series]
    parts = [
        "backtest download",
        f"--exchange {shlex.quote(exchange)}",
        f"--symbol {shlex.quote(symbol)}",
        f"--series {','.join(s.value for s in kinds)}",
    ]
    if timeframe is not None and any(s.is_candles for s in kinds):
        parts.append(f"--timeframe {timeframe}")
    parts.append(f"--since {cli_time(since) if since is not None else DEFAULT_SINCE}")
    if until is not None:
        parts.append(f"--until {cli_time(until)}")
    if data_dir is not None:
        parts.append(f"--data-dir {shlex.quote(str(data_dir))}")
    return " ".join(parts)


def cli_time(value: Any) -> str:
    """A UTC time as the command line takes it: ``2023-01-01`` at midnight, else
    ``2023-01-01T08:00:00Z``."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if ts == ts.normalize():
        return ts.strftime("%Y-%m-%d")
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SeriesKey:
    """Identifies one stored file. Strings are accepted for ``series`` and ``timeframe``.

    Candle series need a timeframe; funding keys have ``timeframe=None``.
    """

    exchange: str
    symbol: str
    series: Series
    timeframe: Timeframe | None = None

    def __post_init__(self) -> None:
        series = Series(self.series)
        tf = None if self.timeframe is None else Timeframe.parse(self.timeframe)
        check_exchange_id(self.exchange)
        check_symbol(self.symbol)
        if series.is_candles and tf is None:
            raise ValueError(f"series {series.value!r} needs a timeframe")
        if not series.is_candles:
            tf = None  # funding is event data: no bar length
        object.__setattr__(self, "series", series)
        object.__setattr__(self, "timeframe", tf)

    @property
    def market_type(self) -> MarketType:
        """``swap`` for ccxt symbols with a settle part (``ETH/USD:ETH``), else ``spot``."""
        return MarketType.SWAP if ":" in self.symbol else MarketType.SPOT

    @property
    def file_name(self) -> str:
        stem = safe_symbol(self.symbol)
        if self.series is Series.FUNDING:
            return f"{stem}-funding{_SUFFIX}"
        return f"{stem}-{self.timeframe}-{self.series.value}{_SUFFIX}"

    def download_command(
        self,
        since: Any = None,
        until: Any = None,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> str:
        """The exact ``backtest download`` command that fetches this series (see
        :func:`download_command`)."""
        return download_command(
            self.exchange, self.symbol, [self.series], self.timeframe, since, until, data_dir
        )

    def __str__(self) -> str:
        tf = f" {self.timeframe}" if self.timeframe is not None else ""
        return f"{self.exchange} {self.symbol} {self.series.value}{tf}"


def check_exchange_id(exchange: str) -> None:
    """Refuse an exchange id that is not a ccxt id or a plain custom venue name
    (``[a-z0-9_]+``): it becomes a folder name, so ``..`` or ``a/b`` must never get through."""
    if not isinstance(exchange, str) or not EXCHANGE_ID_RE.match(exchange):
        raise ValueError(
            f"invalid exchange id {exchange!r}: use a ccxt id such as binance, bybit, okx, or "
            "a custom venue name of lowercase letters, digits and _"
        )


def check_symbol(symbol: str) -> None:
    """Refuse a symbol that does not parse as a ccxt symbol (BASE/QUOTE, BASE/QUOTE:SETTLE,
    optional -EXPIRY): it becomes part of a file name."""
    if not isinstance(symbol, str) or not SYMBOL_RE.match(symbol):
        raise ValueError(
            f"invalid symbol {symbol!r}: expected a ccxt symbol such as ETH/USDT, ETH/USD:ETH "
            "or BTC/USD:BTC-250627"
        )


def symbol_from_safe(safe: str, market_type: MarketType) -> str:
    """Best-effort inverse of :func:`safe_symbol` (used when a file has no metadata)."""
    parts = safe.split("_")
    if market_type is MarketType.SWAP and len(parts) >= 3:
        return f"{parts[0]}/{parts[1]}:{'_'.join(parts[2:])}"
    if len(parts) >= 2:
        return f"{parts[0]}/{'_'.join(parts[1:])}"
    return safe


def parse_file_name(exchange: str, market_type: str, name: str) -> SeriesKey | None:
    """Parse a store file name back into a key; ``None`` if it does not follow the layout."""
    if not name.endswith(_SUFFIX) or name.startswith("."):
        return None
    try:
        mt = MarketType(market_type)
    except ValueError:
        return None
    stem = name[: -len(_SUFFIX)]
    if stem.endswith("-funding"):
        if mt is MarketType.SPOT:
            return None  # spot markets have no funding
        safe, series, tf = stem[: -len("-funding")], Series.FUNDING, None
    else:
        pieces = stem.rsplit("-", 2)
        if len(pieces) != 3:
            return None
        safe, tf_text, series_text = pieces
        try:
            series = Series(series_text)
            tf = Timeframe.parse(tf_text)
        except ValueError:
            return None
        if not series.is_candles:
            return None
    if not safe:
        return None
    try:
        return SeriesKey(exchange, symbol_from_safe(safe, mt), series, tf)
    except ValueError:  # a folder that is no exchange id, a name that is no ccxt symbol
        return None


def funding_interval_hours(index: pd.DatetimeIndex) -> np.ndarray:
    """Hours since the previous funding event; the first row takes the next gap.

    Read from the data, never assumed (Binance moved some markets from 8 h to 4 h or 1 h).
    A single event has no neighbour: its interval is NaN.
    """
    n = len(index)
    out = np.full(n, np.nan)
    if n >= 2:
        ns = index.asi8
        gaps = np.diff(ns) / 3_600_000_000_000
        out[1:] = gaps
        out[0] = gaps[0]
    return out


def to_utc_index(values: Any) -> pd.DatetimeIndex:
    """Convert tz-aware timestamps to ``datetime64[ns, UTC]``; naive ones are left naive."""
    idx = pd.DatetimeIndex(values)
    if idx.tz is None:
        return idx.as_unit("ns")
    return idx.tz_convert("UTC").as_unit("ns")


def normalize_frame(key: SeriesKey, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` in the stored schema for ``key`` (columns, float64, UTC ns index).

    Raises :class:`DataValidationError` when a required column is missing or the index is not
    tz-aware. Funding frames get ``interval_hours`` recomputed from the timestamps.
    """
    df = frame.copy()
    if INDEX_NAME in df.columns:
        df = df.set_index(INDEX_NAME)
    if not isinstance(df.index, pd.DatetimeIndex):
        raise DataValidationError(f"{key}: index must be timestamps, got {df.index.dtype}")
    if df.index.tz is None:
        raise DataValidationError(f"{key}: timestamps must be tz-aware UTC, got naive timestamps")
    if key.series.is_candles:
        wanted = list(CANDLE_COLUMNS)
        missing = [c for c in wanted if c not in df.columns]
    else:
        missing = [c for c in FUNDING_REQUIRED if c not in df.columns]
        wanted = [c for c in FUNDING_COLUMNS if c in df.columns or c == "interval_hours"]
    if missing:
        raise DataValidationError(f"{key}: missing column(s) {', '.join(missing)}")
    idx = to_utc_index(df.index)
    out = pd.DataFrame(index=pd.DatetimeIndex(idx, name=INDEX_NAME))
    for col in wanted:
        if col == "interval_hours" and not key.series.is_candles:
            out[col] = funding_interval_hours(idx)
        else:
            out[col] = pd.to_numeric(df[col].to_numpy(), errors="raise").astype("float64")
    return out


def _default_meta(key: SeriesKey) -> dict[str, Any]:
    return {
        "exchange": key.exchange,
        "symbol": key.symbol,
        "market_type": key.market_type.value,
        "kind": None,
        "contract_size": None,
        "series": key.series.value,
        "timeframe": None if key.timeframe is None else str(key.timeframe),
        "source": None,
        "mark_substitute": None,
        "fetched_at": None,
        "library": None,
    }


def build_meta(key: SeriesKey, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metadata for ``key``: defaults, then ``meta``; key-derived fields always win."""
    out = _default_meta(key)
    out["fetched_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    out["library"] = f"perphedge {__version__}"
    for name, value in (meta or {}).items():
        if hasattr(value, "value") and not isinstance(value, (int, float, str)):
            value = value.value  # enums
        out[name] = value
    out.update(
        exchange=key.exchange,
        symbol=key.symbol,
        market_type=key.market_type.value,
        series=key.series.value,
        timeframe=None if key.timeframe is None else str(key.timeframe),
    )
    return out


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every platform / filesystem
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def current_umask() -> int:
    """The process umask (read without changing it where the platform allows)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # no /proc: set and restore at once
    os.umask(mask)
    return mask


def target_mode(path: Path) -> int:
    """Permission bits for a file written at ``path``: the existing file's (a rewrite keeps a
    shared file shared), else the usual mode for a new file under the umask (0666 & ~umask)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def atomic_write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` via temp file + fsync + ``os.replace``.

    The file gets :func:`target_mode` (``mkstemp`` alone would leave it 0600). On any error
    the temp file is removed and an existing ``path`` is left untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = target_mode(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            pq.write_table(table, fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


class Store:
    """A folder of Parquet files in the perphedge layout."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def path(self, key: SeriesKey) -> Path:
        """Where ``key`` is stored; refuses (``ValueError``) a path that would leave the root."""
        path = self.root / key.exchange / key.market_type.value / key.file_name
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise ConfigError("store", f"{key}: path {path} would leave the store {self.root}")
        return path

    def exists(self, key: SeriesKey) -> bool:
        return self.path(key).is_file()

    def write(
        self, key: SeriesKey, frame: pd.DataFrame, meta: Mapping[str, Any] | None = None
    ) -> Path:
        """Atomically write ``frame`` (normalised to the schema) with ``meta``; return the path."""
        df = normalize_frame(key, frame)
        full_meta = build_meta(key, meta)
        table = pa.Table.from_pandas(df, preserve_index=True)
        schema_meta = dict(table.schema.metadata or {})
        schema_meta[META_KEY] = json.dumps(full_meta, sort_keys=True).encode()
        table = table.replace_schema_metadata(schema_meta)
        path = self.path(key)
        atomic_write_table(table, path)
        return path

    def cli_data_dir(self) -> str | None:
        """How ``--data-dir`` must name this store for a command run in the working directory:
        ``None`` for the default ``data`` folder there, else the root (relative if inside)."""
        cwd = Path.cwd().resolve()
        root = self.root.expanduser().resolve()
        if root == cwd / "data":
            return None
        try:
            return root.relative_to(cwd).as_posix()
        except ValueError:
            return str(root)

    def missing_error(
        self, key: SeriesKey, since: Any = None, until: Any = None
    ) -> MissingDataError:
        """The error for an absent file: its path and the exact command that fetches it (into
        this store). The key is kept on the error (``.key``) so callers that know the run's
        period can rebuild the command with it."""
        command = key.download_command(since, until, self.cli_data_dir())
        err = MissingDataError(f"no data file {self.path(key)}; fetch it with: {command}")
        err.key = key  # type: ignore[attr-defined]
        return err

    def read_meta(self, key: SeriesKey, since: str | None = None) -> dict[str, Any]:
        """Only the metadata (cheap: reads the Parquet footer)."""
        path = self.path(key)
        if not path.is_file():
            raise self.missing_error(key, since)
        _, schema_meta = read_parquet_once(path, meta_only=True)
        return _meta_from_schema(key, schema_meta)

    def read(
        self, key: SeriesKey, since: Any = None, until: Any = None
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Return ``(frame, meta)``; ``since``/``until`` only shape the download hint of a
        missing file.

        Corrupt or truncated files raise :class:`DataValidationError` naming the file.
        """
        path = self.path(key)
        if not path.is_file():
            raise self.missing_error(key, since, until)
        frame, schema_meta = read_parquet_once(path)
        meta = _meta_from_schema(key, schema_meta)
        if INDEX_NAME in frame.columns:
            frame = frame.set_index(INDEX_NAME)
        if not isinstance(frame.index, pd.DatetimeIndex):
            raise DataValidationError(f"{path}: no '{INDEX_NAME}' index of timestamps")
        frame.index = pd.DatetimeIndex(to_utc_index(frame.index), name=INDEX_NAME)
        return frame, meta

    def merge_write(
        self, key: SeriesKey, new_frame: pd.DataFrame, meta: Mapping[str, Any] | None = None
    ) -> Path:
        """Union ``new_frame`` with the stored file (new rows win on equal timestamps), sort and
        write atomically. Old metadata is kept where ``meta`` does not override it."""
        new = normalize_frame(key, new_frame)
        merged_meta: dict[str, Any] = {}
        if self.exists(key):
            old, old_meta = self.read(key)
            old = normalize_frame(key, old)
            # fetched_at and library describe this write, so they are not carried over
            merged_meta.update(
                {
                    k: v
                    for k, v in old_meta.items()
                    if v is not None and k not in ("fetched_at", "library")
                }
            )
            new = pd.concat([old, new], axis=0)
        new = new[~new.index.duplicated(keep="last")].sort_index()
        merged_meta.update(meta or {})
        return self.write(key, new, merged_meta)

    def keys(self) -> list[SeriesKey]:
        """Every cached file as a key, sorted by path. Symbols come from the file metadata
        when present, otherwise they are parsed from the file name."""
        return [key for key, _ in self.iter_files()]

    def unrecognised_files(self) -> list[Path]:
        """Parquet files under the root that the store ignores because their place or name
        does not follow the layout (``<exchange>/<spot|swap>/<SYMBOL>-<tf>-<series>.parquet``
        or ``<SYMBOL>-funding.parquet``), sorted; hidden files (temp writes) are skipped."""
        if not self.root.is_dir():
            return []
        out = []
        for path in sorted(self.root.rglob(f"*{_SUFFIX}")):
            if path.name.startswith("."):
                continue
            rel = path.relative_to(self.root).parts
            if len(rel) != 3 or parse_file_name(rel[0], rel[1], rel[2]) is None:
                out.append(path)
        return out

    def iter_files(self) -> Iterator[tuple[SeriesKey, Path]]:
        """``(key, path)`` for each file that follows the layout, sorted by path."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob(f"*/*/*{_SUFFIX}")):
            market_type = path.parent.name
            exchange = path.parent.parent.name
            key = parse_file_name(exchange, market_type, path.name)
            if key is None:
                continue
            with contextlib.suppress(DataValidationError, ValueError):
                _, schema_meta = read_parquet_once(path, meta_only=True)
                meta = json.loads((schema_meta or {}).get(META_KEY, b"{}"))
                sym = meta.get("symbol")
                if isinstance(sym, str) and safe_symbol(sym) == safe_symbol(key.symbol):
                    key = SeriesKey(exchange, sym, key.series, key.timeframe)
            yield key, path


def _read_through_one_handle(
    path: Path, meta_only: bool
) -> tuple[pd.DataFrame | None, Mapping[bytes, bytes] | None]:
    """Schema, metadata and rows from ONE open file handle: a concurrent atomic replace swaps
    the directory entry, never the file this handle reads, so the read is never half old and
    half new (opening the path twice could mix two files)."""
    with open(path, "rb") as fh:
        pf = pq.ParquetFile(fh)
        schema_meta = pf.schema_arrow.metadata
        if meta_only:
            return None, schema_meta
        return pf.read().to_pandas(), schema_meta


def read_parquet_once(
    path: Path, *, meta_only: bool = False
) -> tuple[pd.DataFrame | None, Mapping[bytes, bytes] | None]:
    """Read ``path`` (frame and schema metadata) through one handle.

    A failed read is tried once more on a fresh handle before the file is called corrupt (a
    writer may have replaced it in between). Permission and other OS errors say what they are
    and never advise deleting the file.
    """
    try:
        return _read_through_one_handle(path, meta_only)
    except (pa.ArrowException, OSError, ValueError):
        pass
    try:
        return _read_through_one_handle(path, meta_only)
    except FileNotFoundError:
        raise DataValidationError(f"{path}: the file disappeared while being read") from None
    except PermissionError as exc:
        raise DataValidationError(
            f"{path}: cannot read the file ({exc.strerror or 'permission denied'})"
        ) from None
    except IsADirectoryError:
        raise DataValidationError(f"{path}: is a folder, not a Parquet file") from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, pa.ArrowException) and exc.errno:
            raise DataValidationError(
                f"{path}: cannot read the file ({exc.strerror or type(exc).__name__})"
            ) from None
        raise _corrupt(path, exc) from None


def _corrupt(path: Path, exc: BaseException) -> DataValidationError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if reason.startswith("Could not open Parquet input source") and "': " in reason:
        reason = reason.split("': ", 1)[1]  # pyarrow repeats the path; we name it already
    return DataValidationError(
        f"{path}: not a readable Parquet file ({reason}); delete it and fetch or import it again"
    )


def _meta_from_schema(key: SeriesKey, schema_meta: Mapping[bytes, bytes] | None) -> dict[str, Any]:
    meta = _default_meta(key)
    raw = (schema_meta or {}).get(META_KEY)
    if raw:
        try:
            stored = json.loads(raw)
        except ValueError:
            stored = {}
        if isinstance(stored, dict):
            meta.update(stored)
    return meta


@contextlib.contextmanager
def series_lock(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an exclusive lock on the hidden file ``.<name>.lock`` beside the series file
    ``path`` for the duration of the block: writers of one series (concurrent downloads) take
    turns, so each re-reads, merges and writes without losing the other's rows. The lock is
    ``fcntl.flock``: the kernel releases it when the holder's process dies. Where ``fcntl``
    does not exist (Windows) the block runs unlocked. Yields the lock file's path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(f".{target.name}.lock")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield lock_path
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield lock_path
    finally:
        os.close(fd)  # closing the descriptor releases the flock
