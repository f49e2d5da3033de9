"""freqtrade's data files by name: which pair, timeframe and candle type each file holds.

freqtrade keeps one file per series under ``user_data/data/<exchange>/``:

- spot candles: ``BTC_USDT-1h.feather`` (pair ``BTC/USDT``);
- futures, under ``futures/``: ``BTC_USDT_USDT-1h-futures.feather`` (last-trade candles of
  ``BTC/USDT:USDT``), ``-mark``, ``-index`` and ``-funding_rate`` (the rate in ``open``);
- formats ``.feather``, ``.parquet``, ``.json`` and ``.json.gz`` (older ``jsongz``).

``premiumIndex`` and ``-trades`` files have no place in the store and are skipped with a
reason, like any file whose name does not follow this pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from perphedge.data.store import SeriesKey, check_exchange_id
from perphedge.domain import MarketType, Series, Timeframe

FREQTRADE_SUFFIXES: tuple[str, ...] = (".feather", ".parquet", ".json", ".json.gz")
# candle type in the file name -> (store series, market type)
CANDLE_TYPES: dict[str, tuple[Series, MarketType]] = {
    "spot": (Series.OHLCV, MarketType.SPOT),
    "futures": (Series.OHLCV, MarketType.SWAP),
    "mark": (Series.MARK, MarketType.SWAP),
    "index": (Series.INDEX, MarketType.SWAP),
    "funding_rate": (Series.FUNDING, MarketType.SWAP),
}
_NAME_RE = re.compile(
    r"^(?P<pair>[A-Za-z0-9.]+(?:_[A-Za-z0-9.]+)+)-(?P<tf>\d+[mhdw])"
    r"(?:-(?P<ctype>[A-Za-z_]+))?(?P<ext>\.feather|\.parquet|\.json|\.json\.gz)$"
)


@dataclass(frozen=True)
class FreqtradeFile:
    """One freqtrade data file and the store series it becomes."""

    path: Path
    symbol: str
    timeframe: Timeframe
    candle_type: str
    series: Series

    def key(self, exchange: str) -> SeriesKey:
        return SeriesKey(exchange, self.symbol, self.series, self.timeframe)


def pair_symbol(pair: str, market_type: MarketType) -> str:
    """freqtrade's file-name pair as a ccxt symbol: ``BTC_USDT`` -> ``BTC/USDT``,
    ``BTC_USDT_USDT`` (futures) -> ``BTC/USDT:USDT``."""
    parts = pair.split("_")
    if market_type is MarketType.SWAP:
        if len(parts) != 3:
            raise ValueError(f"futures pair {pair!r} is not BASE_QUOTE_SETTLE")
        return f"{parts[0]}/{parts[1]}:{parts[2]}"
    if len(parts) != 2:
        raise ValueError(f"spot pair {pair!r} is not BASE_QUOTE")
    return f"{parts[0]}/{parts[1]}"


def parse_freqtrade_name(path: Path) -> FreqtradeFile:
    """Read pair, timeframe and candle type from a freqtrade file name.

    Raises ``ValueError`` with the reason for a name that is not a freqtrade candle file.
    """
    m = _NAME_RE.match(path.name)
    if not m:
        raise ValueError("not a freqtrade candle file name (PAIR-TIMEFRAME[-TYPE].feather|...)")
    ctype = m.group("ctype") or "spot"
    if ctype not in CANDLE_TYPES:
        raise ValueError(f"candle type {ctype!r} has no place in the store")
    series, market_type = CANDLE_TYPES[ctype]
    symbol = pair_symbol(m.group("pair"), market_type)
    return FreqtradeFile(path, symbol, Timeframe.parse(m.group("tf")), ctype, series)


def scan_folder(folder: Path) -> tuple[list[FreqtradeFile], list[tuple[Path, str]]]:
    """Every freqtrade data file in ``folder`` and its ``futures/`` subfolder, sorted, and the
    files skipped with the reason."""
    found: list[FreqtradeFile] = []
    skipped: list[tuple[Path, str]] = []
    candidates = sorted(p for p in folder.iterdir() if p.is_file())
    if (folder / "futures").is_dir():
        candidates += sorted(p for p in (folder / "futures").iterdir() if p.is_file())
    for path in candidates:
        if path.name.startswith("."):
            continue
        try:
            found.append(parse_freqtrade_name(path))
        except ValueError as exc:
            skipped.append((path, str(exc)))
    return found, skipped


def exchange_from_folder(folder: Path) -> str | None:
    """freqtrade names the folder after the exchange (``user_data/data/binance``)."""
    name = folder.resolve().name
    try:
        check_exchange_id(name)
    except ValueError:
        return None
    return name
