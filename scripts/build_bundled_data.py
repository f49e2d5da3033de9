"""Convert the raw history in ../shared/data into the bundled Parquet store under data/.

Re-runnable and deterministic: every file goes through perphedge's own importers
(``perphedge.data.importers``) and is validated before it is written; each file's
``fetched_at`` is the modification time of its raw source, so re-running on the same raw files
rewrites identical metadata. Overlapping sources are checked against each other here (the ATOM
pieces; FrancyPengChoco vs AHA-HH for Binance COIN-M BTC; freqtrade vs AHA-HH for Binance
USDT-M funding) and the script stops if they disagree.

Usage::

    python scripts/build_bundled_data.py [--shared ../shared/data] [--out data]
    python scripts/build_bundled_data.py --check [--shared ../shared/data] [--out data]

``--check`` (for maintainers, with the raw sources beside the repository) rebuilds everything
into a temporary folder, compares each file with the committed one under ``--out`` (rows,
values, dtypes and metadata; ``fetched_at`` is the raw file's modification time, so a copied raw
folder changes only that), runs the cross-checks between overlapping sources, and checks known
values at known UTC instants against the raw files read independently with plain pandas. It
prints a summary and exits 1 on any difference, writing nothing.

The timestamp conventions of every raw file are in ../shared/data/SOURCES.md and, for what is
bundled, in data/SOURCES.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perphedge.data.importers import (
    CsvSpec,
    Label,
    read_csv_frame,
    read_freqtrade_frame,
    slice_frame,
    write_imported,
)
from perphedge.data.store import SeriesKey, Store
from perphedge.data.validate import check_frame
from perphedge.domain import InstrumentKind, Series, Timeframe

REPO = Path(__file__).resolve().parents[1]
START, END = "2023-01-01", "2024-07-01"  # [START, END) UTC for the common window
FPC_START, FPC_END = "2020-08-01", "2025-05-01"  # the whole FrancyPengChoco span

SPOT_1H = ("ETH", "BTC", "SOL", "AVAX", "ADA", "DOT", "NEAR")
ATOM_PIECES = (  # oldest first: earlier pieces win on overlap (they agree anyway)
    ("binance_spot_ATOM_USDT-1h_2019-04_2022-10__djienne.json", "djienne/3EMA_SRSI_ATR@29af186a"),
    (
        "binance_spot_ATOM_USDT-1h_2020-05_2024-05__Mounik.feather",
        "Mounik/Sample_Scalping@019f9ad9",
    ),
    ("binance_spot_ATOM_USDT-1h_2024__skeleton1231.feather", "skeleton1231/freqtrade@acae7e5e"),
    (
        "binance_spot_ATOM_USDT-1h_2024-01_2024-09__GeneTrader.feather",
        "imsatoshi/GeneTrader@2b5dfc6e",
    ),
)

AHA_FILE = "inverse_perp/binance_bybit_okx_BTC_ETH_spot_coinm_usdtm_8h_2023-01_2024-07.csv"
AHA_SRC = "AHA-HH/optimising-funding-rate-arbitrage@110bc95c:data/all_exchanges.csv"
FPC_FILE = "inverse_perp/binance_coinm_BTCUSD_PERP_8h_funding_spot_perp_ohlc_2020-08_2025-04.csv"
FPC_SRC = "FrancyPengChoco/my-notebook@6b8c5090:Binance_BTC_8h_all_data_final.csv"
CDD_FILE = "inverse_perp/binance_coinm_BTCUSD_PERP_1h_last_price_ohlcv_2020-08_2024-08_cryptodatadownload.csv"
CDD_SRC = (
    "AHA-HH/optimising-funding-rate-arbitrage@12204a61:"
    "data/raw/Binance/BTCUSD_PERP_Binance_futures_CM_hour.csv (CryptoDataDownload)"
)
LONDON_FUNDING = "inverse_perp/binance_coinm_BTCUSD_PERP_funding_2021-07_2024-07_londontime.csv"
ROSHAN = "Roshan7869/algotrading@4e790fea:user_data/data/binance/"
JYZ_FILE = (
    "inverse_perp/binance_coinm_35perps_funding_markprice_8h_2024-04-11_2024-06-19__jyz0328.json"
)
JYZ_SRC = "jyz0328/intern-tasks@4129d069:ArbFunding_Data/historical_funding_rates.json"
JYZ_COINS = ("SOL", "AVAX", "ADA", "DOT", "NEAR", "ATOM")  # the alt basket's own COIN-M perps

# USD per inverse contract (hedging-model.md section 3).
INVERSE_CONTRACT = {
    ("binance", "BTC"): 100.0,
    ("binance", "ETH"): 10.0,
    ("bybit", "BTC"): 1.0,
    ("bybit", "ETH"): 1.0,
    ("okx", "BTC"): 100.0,
    ("okx", "ETH"): 10.0,
}
INVERSE_CONTRACT |= {("binance", c): 10.0 for c in JYZ_COINS}  # every COIN-M alt: 10 USD
# Quantity step of the linear perps, in coins.
LINEAR_STEP = {
    ("binance", "BTC"): 0.001,
    ("binance", "ETH"): 0.001,
    ("bybit", "BTC"): 0.001,
    ("bybit", "ETH"): 0.01,
    ("okx", "BTC"): 0.01,
    ("okx", "ETH"): 0.1,
}
CRYPTO = {"BTC": "bitcoin", "ETH": "ethereum"}

MARK_SUB_CANDLES = (
    "no source has mark-price candles for this inverse perp; these are its last-trade (perp "
    "last price) candles, which stand in for mark (or use the spot as substitute)"
)
MARK_SUB_FUNDING = (
    "no mark price per funding event in the source; use the mark substitute (perp last price "
    "open of the bar containing the event, or spot)"
)
LIC_MIT_AHA = "MIT (repository code licence, (c) 2024 Anees); numbers from exchange public APIs"
LIC_NONE = "no licence file (all rights reserved by default); numbers from exchange public APIs"
LIC_GPL = "GPL-3.0 (repository code licence); numbers from Binance's public API"
LIC_CDD = "repo MIT; the data is CryptoDataDownload's (their terms of use apply)"


@dataclass(frozen=True)
class Output:
    """One produced file, for the summary."""

    key: SeriesKey
    path: Path
    rows: int
    first: pd.Timestamp
    last: pd.Timestamp


def mtime_utc(path: Path) -> str:
    """The raw file's modification time as an ISO UTC string (deterministic ``fetched_at``)."""
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def save(
    store: Store, key: SeriesKey, frame: pd.DataFrame, raw: Path, meta: dict[str, Any]
) -> Output:
    """Validate and write one frame; raise if it is empty or invalid."""
    if frame.empty:
        raise SystemExit(f"{key}: no rows in the window from {raw}")
    check_frame(frame, key.series, key.timeframe, label=str(key), bar_offset=meta.get("bar_offset"))
    path = write_imported(store, key, frame, {"fetched_at": mtime_utc(raw), **meta})
    return Output(key, path, len(frame), frame.index[0], frame.index[-1])


def require_agree(
    name: str, a: pd.Series, b: pd.Series, *, rtol: float = 0.0, min_overlap: int = 1
) -> int:
    """Stop unless ``a`` and ``b`` agree on every common timestamp; return the overlap size."""
    common = a.index.intersection(b.index)
    if len(common) < min_overlap:
        raise SystemExit(f"{name}: only {len(common)} common timestamps")
    x, y = a.loc[common].to_numpy(), b.loc[common].to_numpy()
    bad = ~np.isclose(x, y, rtol=rtol, atol=0.0)
    if bad.any():
        first = common[np.flatnonzero(bad)[0]]
        raise SystemExit(f"{name}: {int(bad.sum())}/{len(common)} disagree (first at {first})")
    print(f"  agree: {name}: {len(common)}/{len(common)}")
    return len(common)


def spot_1h(store: Store, shared: Path) -> Iterable[Output]:
    for sym in SPOT_1H:
        raw = shared / f"spot_1h/binance_spot_{sym}_USDT-1h.feather"
        frame = slice_frame(read_freqtrade_frame(raw, Series.OHLCV), START, END)
        key = SeriesKey("binance", f"{sym}/USDT", Series.OHLCV, Timeframe.parse("1h"))
        meta = {
            "source": f"{ROSHAN}{sym}_USDT-1h.feather",
            "licence": LIC_GPL,
            "utc_conversion": "freqtrade date = UTC bar open (tz-aware); unchanged",
        }
        yield save(store, key, frame, raw, meta)


def atom_1h(store: Store, shared: Path) -> Output:
    frames = []
    for name, _ in ATOM_PIECES:
        frames.append(read_freqtrade_frame(shared / "spot_1h/atom_pieces" / name, Series.OHLCV))
    for (na, _), (nb, _), fa, fb in zip(
        ATOM_PIECES[:-1], ATOM_PIECES[1:], frames[:-1], frames[1:], strict=True
    ):
        for col in ("open", "high", "low", "close"):
            require_agree(f"ATOM {col} {na[-20:]} vs {nb[-20:]}", fa[col], fb[col])
    merged = pd.concat(frames)
    merged = merged[~merged.index.duplicated(keep="first")].sort_index()
    frame = slice_frame(merged, START, END)
    used = [
        (name, src)
        for (name, src), f in zip(ATOM_PIECES, frames, strict=True)
        if len(slice_frame(f, START, END))
    ]
    key = SeriesKey("binance", "ATOM/USDT", Series.OHLCV, Timeframe.parse("1h"))
    meta = {
        "source": "; ".join(f"{src}:user_data/data/binance/ATOM_USDT-1h" for _, src in used),
        "licence": "pieces: none / GPL-3.0 / MIT (see data/SOURCES.md)",
        "utc_conversion": "freqtrade date = UTC bar open; pieces concatenated, duplicates dropped "
        "(they agree exactly on OHLC where they overlap)",
    }
    raw = shared / "spot_1h/atom_pieces" / ATOM_PIECES[1][0]
    return save(store, key, frame, raw, meta)


def aha_spec(exchange: str, pair: str, contract: str, series: Series) -> CsvSpec:
    cols: dict[str, str | None] = (
        {"funding_rate": "funding rate"} if series is Series.FUNDING else {}
    )
    return CsvSpec(
        time_column="time",
        timezone="Europe/London",
        columns=cols,
        filters={"exchange": exchange, "pair": pair, "contract": contract},
    )


def aha_frame(
    shared: Path, exchange: str, pair: str, contract: str, series: Series
) -> pd.DataFrame:
    tf = Timeframe.parse("8h") if series.is_candles else None
    spec = aha_spec(exchange, pair, contract, series)
    return slice_frame(read_csv_frame(shared / AHA_FILE, series, spec, tf), START, END)


AHA_UTC = (
    "time = Europe/London wall clock of the 8h bar open (GMT winter, BST summer) -> UTC; "
    "DST-fallback hours resolved onto the 8h UTC grid; funding at the same instant"
)


def aha_multi_exchange(store: Store, shared: Path, skip: set[SeriesKey]) -> Iterable[Output]:
    """All series of the AHA-HH file except those ``skip`` (written from a longer source)."""
    raw = shared / AHA_FILE
    base = {"source": AHA_SRC, "licence": LIC_MIT_AHA, "utc_conversion": AHA_UTC}
    tf8 = Timeframe.parse("8h")
    for exchange in ("binance", "bybit", "okx"):
        for coin in ("BTC", "ETH"):
            # inverse (coin-margined) perp: candles and funding
            sym = f"{coin}/USD:{coin}"
            inv = {
                **base,
                "kind": InstrumentKind.INVERSE.value,
                "contract_size": INVERSE_CONTRACT[(exchange, coin)],
                "source_pair": f"{coin}USDCM",
            }
            for series, sub in (
                (Series.OHLCV, MARK_SUB_CANDLES),
                (Series.FUNDING, MARK_SUB_FUNDING),
            ):
                key = SeriesKey(exchange, sym, series, tf8 if series.is_candles else None)
                if key in skip:
                    continue
                frame = aha_frame(shared, exchange, f"{coin}USDCM", "perpetual", series)
                yield save(store, key, frame, raw, {**inv, "mark_substitute": sub})
            # linear (USDT-margined) perp: candles and funding
            lin = {
                **base,
                "kind": InstrumentKind.LINEAR.value,
                "contract_size": LINEAR_STEP[(exchange, coin)],
                "source_pair": f"{coin}USDT",
            }
            for series in (Series.OHLCV, Series.FUNDING):
                key = SeriesKey(
                    exchange, f"{coin}/USDT:USDT", series, tf8 if series.is_candles else None
                )
                if key in skip:
                    continue
                frame = aha_frame(shared, exchange, f"{coin}USDT", "perpetual", series)
                yield save(store, key, frame, raw, lin)
            # spot 8h
            key = SeriesKey(exchange, f"{coin}/USDT", Series.OHLCV, tf8)
            if key not in skip:
                frame = aha_frame(shared, exchange, f"{coin}/USDT", "spot", Series.OHLCV)
                yield save(store, key, frame, raw, base)


FPC_UTC = (
    "Timestamp = UTC funding time = UTC close of the 8h bar; bar open = Timestamp - 8h "
    "(label close shifted to open); funding kept at Timestamp"
)


def fpc_frames(shared: Path) -> dict[str, pd.DataFrame]:
    raw = shared / FPC_FILE
    tf8 = Timeframe.parse("8h")
    fut = {"open": "Open_futures", "high": "High_futures", "low": "Low_futures"}
    fut |= {"close": "Close_futures", "volume": None}
    spot = {"open": "Open_spot", "high": "High_spot", "low": "Low_spot", "close": "Close_spot"}
    spot |= {"volume": "Volume"}
    perp = read_csv_frame(
        raw, Series.OHLCV, CsvSpec("Timestamp", columns=fut, label=Label.CLOSE), tf8
    )
    spot_f = read_csv_frame(
        raw, Series.OHLCV, CsvSpec("Timestamp", columns=spot, label=Label.CLOSE), tf8
    )
    funding = read_csv_frame(
        raw, Series.FUNDING, CsvSpec("Timestamp", columns={"funding_rate": "Funding Rate"})
    )
    return {
        "perp": slice_frame(perp, FPC_START, FPC_END),
        "spot": slice_frame(spot_f, FPC_START, FPC_END),
        "funding": slice_frame(funding, FPC_START, FPC_END),
    }


def binance_coinm_btc(store: Store, shared: Path) -> Iterable[Output]:
    """FrancyPengChoco 8h (funding, perp, spot) and CryptoDataDownload 1h perp candles."""
    raw = shared / FPC_FILE
    tf8 = Timeframe.parse("8h")
    frames = fpc_frames(shared)
    # cross-checks against the independent AHA-HH export before writing
    for what, part, column, pair, contract, series in (
        ("coin-M funding", "funding", "funding_rate", "BTCUSDCM", "perpetual", Series.FUNDING),
        ("coin-M 8h open", "perp", "open", "BTCUSDCM", "perpetual", Series.OHLCV),
        ("spot 8h open", "spot", "open", "BTC/USDT", "spot", Series.OHLCV),
    ):
        aha = aha_frame(shared, "binance", pair, contract, series)
        require_agree(
            f"FPC vs AHA binance BTC {what}", frames[part][column], aha[column], min_overlap=1000
        )
    inv = {
        "source": FPC_SRC,
        "licence": LIC_NONE,
        "utc_conversion": FPC_UTC,
        "kind": InstrumentKind.INVERSE.value,
        "contract_size": INVERSE_CONTRACT[("binance", "BTC")],
    }
    yield save(
        store,
        SeriesKey("binance", "BTC/USD:BTC", Series.FUNDING),
        frames["funding"],
        raw,
        {**inv, "mark_substitute": MARK_SUB_FUNDING},
    )
    yield save(
        store,
        SeriesKey("binance", "BTC/USD:BTC", Series.OHLCV, tf8),
        frames["perp"],
        raw,
        {**inv, "mark_substitute": MARK_SUB_CANDLES, "notes": "volume not in source: stored as 0"},
    )
    yield save(
        store,
        SeriesKey("binance", "BTC/USDT", Series.OHLCV, tf8),
        frames["spot"],
        raw,
        {"source": FPC_SRC, "licence": LIC_NONE, "utc_conversion": FPC_UTC},
    )
    cdd_raw = shared / CDD_FILE
    spec = CsvSpec(time_column="Unix", time_unit="ms", skiprows=1)
    cdd = read_csv_frame(cdd_raw, Series.OHLCV, spec, Timeframe.parse("1h"))
    cdd_8h_open = cdd["open"][cdd.index.asi8 % tf8.ns == 0]
    require_agree(
        "CDD 1h vs FPC 8h perp open", cdd_8h_open, frames["perp"]["open"], min_overlap=4000
    )
    yield save(
        store,
        SeriesKey("binance", "BTC/USD:BTC", Series.OHLCV, Timeframe.parse("1h")),
        cdd,
        cdd_raw,
        {
            "source": CDD_SRC,
            "licence": LIC_CDD,
            "utc_conversion": "Unix = UTC bar open in ms; banner line skipped; newest-first "
            "rows sorted ascending",
            "kind": InstrumentKind.INVERSE.value,
            "contract_size": INVERSE_CONTRACT[("binance", "BTC")],
            "mark_substitute": MARK_SUB_CANDLES,
            "notes": "volume in contracts (100 USD each); gaps kept as gaps",
        },
    )


def binance_usdtm(store: Store, shared: Path) -> Iterable[Output]:
    """Binance USDT-M 1h mark candles and funding (freqtrade files) for the linear comparison."""
    folder = shared / "linear_perp/binance_freqtrade"
    for coin in ("ETH", "BTC"):
        meta = {
            "licence": LIC_GPL,
            "kind": InstrumentKind.LINEAR.value,
            "contract_size": LINEAR_STEP[("binance", coin)],
            "utc_conversion": "freqtrade date = UTC (bar open / funding time); unchanged",
        }
        sym = f"{coin}/USDT:USDT"
        raw_m = folder / f"binance_usdtm_{coin}_USDT_USDT-1h-mark.feather"
        mark = slice_frame(read_freqtrade_frame(raw_m, Series.MARK), START, END)
        src = f"{ROSHAN}futures/{coin}_USDT_USDT-1h-mark.feather"
        yield save(
            store,
            SeriesKey("binance", sym, Series.MARK, Timeframe.parse("1h")),
            mark,
            raw_m,
            {**meta, "source": src, "notes": "mark candles have volume 0"},
        )
        raw_f = folder / f"binance_usdtm_{coin}_USDT_USDT-1h-funding_rate.feather"
        funding = slice_frame(read_freqtrade_frame(raw_f, Series.FUNDING), START, END)
        aha = aha_frame(shared, "binance", f"{coin}USDT", "perpetual", Series.FUNDING)
        require_agree(
            f"freqtrade vs AHA binance {coin} USDT-M funding",
            funding["funding_rate"],
            aha["funding_rate"],
            rtol=1e-9,
            min_overlap=1000,
        )
        src = f"{ROSHAN}futures/{coin}_USDT_USDT-1h-funding_rate.feather (rate in open)"
        yield save(
            store,
            SeriesKey("binance", sym, Series.FUNDING),
            funding,
            raw_f,
            {**meta, "source": src},
        )


JYZ_UTC = (
    "fundingTime = UTC epoch ms of the funding event, 0-3 ms after the hour: floored to the hour"
)
JYZ_MARK = (
    "8h mark candles rebuilt from the mark price at each funding time: the mark at a funding time "
    "is the CLOSE of the 8h bar that ends then (and the open of the next bar); high and low are "
    "the larger and smaller of open and close, since the source has no intrabar extremes, so a "
    "liquidation check on these bars sees only the bar ends; volume 0"
)


def jyz_frames(raw: Path, coin: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Funding (with the mark at each event) and 8h mark candles of ``<coin>USD_PERP``."""
    import json

    rows = json.loads(raw.read_text())[f"{coin}USD_PERP"]
    times = pd.to_datetime([int(r["fundingTime"]) for r in rows], unit="ms", utc=True)
    times = times.floor("h").as_unit("ns")
    rate = np.array([float(r["fundingRate"]) for r in rows])
    mark = np.array([float(r["markPrice"]) for r in rows])
    index = pd.DatetimeIndex(times, name="timestamp")
    funding = pd.DataFrame(
        {"funding_rate": rate, "mark_price": mark, "interval_hours": 8.0}, index=index
    )
    # bar [t_{i-1}, t_i): open = mark at t_{i-1}, close = mark at t_i (labelled by its open)
    op, cl = mark[:-1], mark[1:]
    candles = pd.DataFrame(
        {
            "open": op,
            "high": np.maximum(op, cl),
            "low": np.minimum(op, cl),
            "close": cl,
            "volume": 0.0,
        },
        index=index[:-1],
    )
    return funding, candles


def binance_coinm_alts(store: Store, shared: Path) -> Iterable[Output]:
    """Binance COIN-M funding and 8h mark candles of the six alt basket coins (jyz0328 JSON).

    The JSON is read here (the importers read CSV and freqtrade files) and every frame goes
    through the importers' writer and the store's validation like every other bundled file.
    """
    raw = shared / JYZ_FILE
    for coin in JYZ_COINS:
        funding, candles = jyz_frames(raw, coin)
        sym = f"{coin}/USD:{coin}"
        meta = {
            "source": JYZ_SRC,
            "licence": LIC_NONE,
            "kind": InstrumentKind.INVERSE.value,
            "contract_size": INVERSE_CONTRACT[("binance", coin)],
            "source_pair": f"{coin}USD_PERP",
        }
        yield save(
            store,
            SeriesKey("binance", sym, Series.FUNDING),
            funding,
            raw,
            {**meta, "utc_conversion": JYZ_UTC, "notes": "mark_price = the mark at the event"},
        )
        yield save(
            store,
            SeriesKey("binance", sym, Series.MARK, Timeframe.parse("8h")),
            candles,
            raw,
            {**meta, "utc_conversion": f"{JYZ_UTC}; {JYZ_MARK}"},
        )


DERIBIT_FILE = "inverse_dated/deribit_BTC_quarterly_inverse_futures_daily_close_vs_perp_2023-01_2024-07__sol008.csv"
DERIBIT_SRC = (
    "sol008/testProject@92c5b4f5:research/code/05-special-situations/output/"
    "deribit_quarterly_basis.csv (Deribit public get_tradingview_chart_data, 1D)"
)
DERIBIT_CONTRACT = 10.0  # USD per Deribit BTC inverse future or perpetual
DERIBIT_OFFSET = "8h"  # Deribit's daily candles run 08:00 -> 08:00 UTC
DERIBIT_UTC = (
    "the row labelled D holds the close at (D+1) 08:00 UTC (Deribit's 1D candles run 08:00 -> "
    "08:00 UTC): stored as the 1d bar that opens at D 08:00 UTC and closes at (D+1) 08:00 UTC "
    "(bar_offset 8h)"
)
DERIBIT_BARS = (
    "close-only source: each bar's open is the previous row's close of the same instrument (the "
    "close at the bar's open instant); high and low are the larger and smaller of open and close, "
    "so a liquidation check sees only the bar ends; the first bar of each series has open = high "
    "= low = close (no earlier price in the source); volume 0"
)
DERIBIT_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    )
}


def deribit_symbol(inst: str) -> str:
    """ccxt symbol of a Deribit BTC quarterly: ``BTC-29DEC23`` -> ``BTC/USD:BTC-231229``."""
    coin, code = inst.split("-", 1)
    day, month, year = int(code[:-5]), DERIBIT_MONTHS[code[-5:-2]], int(code[-2:])
    return f"{coin}/USD:{coin}-{year:02d}{month:02d}{day:02d}"


def close_only_bars(closes: pd.Series) -> pd.DataFrame:
    """Daily bars from consecutive closes (index = bar open): open = the previous close."""
    close = closes.to_numpy(dtype="float64")
    op = np.concatenate([close[:1], close[:-1]])
    return pd.DataFrame(
        {
            "open": op,
            "high": np.maximum(op, close),
            "low": np.minimum(op, close),
            "close": close,
            "volume": 0.0,
        },
        index=pd.DatetimeIndex(closes.index, name="timestamp"),
    )


def deribit_dated(store: Store, shared: Path) -> Iterable[Output]:
    """One series per Deribit BTC quarterly (and the BTC-PERPETUAL close beside them), daily
    bars on the 08:00 UTC clock. The source lists one contract per day (45 to 135 days to
    expiry), so a contract's series ends the day before the next one is listed."""
    raw = shared / DERIBIT_FILE
    table = pd.read_csv(raw, index_col=0)
    labels = pd.DatetimeIndex(pd.to_datetime(table.index, utc=True)).as_unit("ns")
    opens = labels + pd.Timedelta(DERIBIT_OFFSET)  # bar [D 08:00, D+1 08:00) closes at D+1 08:00
    if (labels != labels.normalize()).any():
        raise SystemExit(f"{raw}: date labels are not midnights")
    if (np.diff(labels.asi8) != Timeframe.parse("1d").ns).any():
        raise SystemExit(f"{raw}: date labels are not consecutive days")
    tf = Timeframe.parse("1d")
    base = {
        "source": DERIBIT_SRC,
        "licence": LIC_NONE,
        "kind": InstrumentKind.INVERSE.value,
        "contract_size": DERIBIT_CONTRACT,
        "bar_offset": DERIBIT_OFFSET,
        "utc_conversion": DERIBIT_UTC,
    }
    insts = table["inst"].astype(str).to_numpy()
    for inst in dict.fromkeys(insts):  # contracts in listing order
        rows = insts == inst
        if np.ptp(np.flatnonzero(rows)) + 1 != rows.sum():
            raise SystemExit(f"{raw}: {inst} is listed on non-consecutive days")
        closes = pd.Series(table["fut"].to_numpy(dtype="float64")[rows], index=opens[rows])
        key = SeriesKey("deribit", deribit_symbol(inst), Series.OHLCV, tf)
        meta = {
            **base,
            "source_instrument": inst,
            "mark_substitute": "last-trade daily closes stand in for the mark",
            "notes": f"{DERIBIT_BARS}; only the days the source lists this contract (45 to 135 "
            "days to expiry): no prices near expiry and no delivery price",
        }
        yield save(store, key, close_only_bars(closes), raw, meta)
    perp = pd.Series(table["spot"].to_numpy(dtype="float64"), index=opens)
    meta = {
        **base,
        "source_instrument": "BTC-PERPETUAL",
        "mark_substitute": "last-trade daily closes stand in for the mark",
        "notes": f"{DERIBIT_BARS}; the source's 'spot' column (no funding in the source)",
    }
    yield save(
        store,
        SeriesKey("deribit", "BTC/USD:BTC", Series.OHLCV, tf),
        close_only_bars(perp),
        raw,
        meta,
    )


def spot_8h_from_1h(store: Store, shared: Path, hourly: list[Output]) -> Iterable[Output]:
    """8h spot candles of the alt coins, aggregated from the bundled 1h candles (00/08/16 UTC
    opens), so 8h runs of the alt basket put spot and the perps' 8h marks on one clock.

    Only complete bars are written (all eight hours present); an incomplete bar is left out and
    shows as a gap.
    """
    tf8 = Timeframe.parse("8h")
    for out in hourly:
        coin = out.key.symbol.split("/", 1)[0]
        if coin not in JYZ_COINS:
            continue
        frame = pd.read_parquet(out.path)
        bins = frame.index.floor("8h")
        grouped = frame.groupby(bins)
        bars = grouped.agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
        )
        bars = bars.loc[grouped.size() == 8]
        bars.index = pd.DatetimeIndex(bars.index, name="timestamp").as_unit("ns")
        key = SeriesKey("binance", out.key.symbol, Series.OHLCV, tf8)
        meta = {
            "source": f"data/binance/spot/{coin}_USDT-1h-ohlcv.parquet (this store)",
            "licence": "as the 1h file",
            "utc_conversion": "8h bars opening at 00/08/16 UTC from the 1h bars they contain: "
            "open first, high max, low min, close last, volume sum; bars missing an hour left out",
        }
        # fetched_at: the raw source of the 1h file (deterministic, like every other file)
        raw = (
            shared / "spot_1h/atom_pieces" / ATOM_PIECES[1][0]
            if coin == "ATOM"
            else shared / f"spot_1h/binance_spot_{coin}_USDT-1h.feather"
        )
        yield save(store, key, bars, raw, meta)


def build(shared: Path, out: Path) -> list[Output]:
    """Produce every bundled file; return what was written."""
    if not (shared / "SOURCES.md").is_file():
        raise SystemExit(f"raw data not found: {shared} (pass --shared)")
    store = Store(out)
    outputs: list[Output] = []
    outputs += list(spot_1h(store, shared))
    outputs.append(atom_1h(store, shared))
    outputs += list(binance_coinm_btc(store, shared))
    outputs += list(binance_usdtm(store, shared))
    outputs += list(binance_coinm_alts(store, shared))
    outputs += list(deribit_dated(store, shared))
    hourly = [o for o in outputs if o.key.series is Series.OHLCV and o.key.symbol.endswith("/USDT")]
    outputs += list(
        spot_8h_from_1h(store, shared, [o for o in hourly if o.key.timeframe.ms == 3_600_000])
    )
    # these keys come from the longer / native sources above; AHA-HH only cross-checks them
    skip = {o.key for o in outputs}
    outputs += list(aha_multi_exchange(store, shared, skip))
    return outputs


# ---------------------------------------------------------------- --check


IGNORED_META = ("fetched_at",)  # the raw file's modification time (changes with a copy)


class Checker:
    """Collects named comparisons; a failed one is a problem line, nothing stops early."""

    def __init__(self) -> None:
        self.passed = 0
        self.problems: list[str] = []

    def equal(self, name: str, got: object, want: object) -> None:
        if got == want:
            self.passed += 1
        else:
            self.problems.append(f"{name}: got {got!r}, expected {want!r}")

    def arrays(self, name: str, got: Any, want: Any) -> None:
        a, b = np.asarray(got), np.asarray(want)
        if a.shape == b.shape and np.array_equal(a, b):
            self.passed += 1
            return
        if a.shape != b.shape:
            self.problems.append(f"{name}: shapes {a.shape} vs {b.shape}")
        else:
            first = int(np.flatnonzero(a != b)[0])
            self.problems.append(
                f"{name}: {int((a != b).sum())}/{a.size} differ (first at row {first})"
            )

    def run(self, name: str, fn: Any, *args: Any) -> None:
        """Run one check function; an exception is a problem, not a crash."""
        try:
            fn(self, *args)
        except Exception as exc:  # noqa: BLE001 - a check that crashes is a failed check
            self.problems.append(f"{name}: {type(exc).__name__}: {exc}")


def compare_stores(c: Checker, built: Path, committed: Path) -> int:
    """Every rebuilt file against the committed one: same files, rows, values, metadata."""
    new = dict((p.relative_to(built).as_posix(), k) for k, p in Store(built).iter_files())
    old = {p.relative_to(committed).as_posix() for _, p in Store(committed).iter_files()}
    for rel in sorted(old - set(new)):
        c.problems.append(f"{rel}: committed but not produced by the build")
    for rel in sorted(set(new) - old):
        c.problems.append(f"{rel}: produced by the build but not committed")
    refetched = 0
    for rel in sorted(set(new) & old):
        key = new[rel]
        fa, ma = Store(built).read(key)
        fb, mb = Store(committed).read(key)
        c.equal(f"{rel} columns", list(fa.columns), list(fb.columns))
        c.equal(f"{rel} dtypes", [str(t) for t in fa.dtypes], [str(t) for t in fb.dtypes])
        c.arrays(f"{rel} timestamps", fa.index.asi8, fb.index.asi8)
        for col in fa.columns.intersection(fb.columns):
            c.arrays(f"{rel} {col}", fa[col].to_numpy(), fb[col].to_numpy())
        for k in sorted(set(ma) | set(mb)):
            if k in IGNORED_META:
                refetched += ma.get(k) != mb.get(k)
            else:
                c.equal(f"{rel} metadata {k}", ma.get(k), mb.get(k))
    return refetched


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _london_to_utc(text: str) -> pd.Timestamp:
    """Independent of the importers: fold=0 takes the first (summer-time) repeated hour."""
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/London"), fold=0)
    return pd.Timestamp(local).tz_convert("UTC")


def _frame(store: Store, exchange: str, symbol: str, series: str, tf: str | None = None):
    from perphedge.data.loader import load

    return load(store, exchange, symbol, series, tf).frame


def check_fpc(c: Checker, shared: Path, store: Store) -> None:
    """FrancyPengChoco: Timestamp is the 8h bar close and the funding time."""
    raw = pd.read_csv(shared / FPC_FILE)
    c.equal("FPC first Timestamp", raw.iloc[0]["Timestamp"], "2020-08-11 08:00:00")
    perp = _frame(store, "binance", "BTC/USD:BTC", "ohlcv", "8h")
    spot = _frame(store, "binance", "BTC/USDT", "ohlcv", "8h")
    fund = _frame(store, "binance", "BTC/USD:BTC", "funding")
    c.equal("FPC perp open 2020-08-11 00:00", perp.loc[_ts("2020-08-11 00:00"), "open"], 11785.0)
    c.equal("FPC spot open 2020-08-11 00:00", spot.loc[_ts("2020-08-11 00:00"), "open"], 11892.9)
    c.equal("FPC funding 2020-08-11 08:00", fund.loc[_ts("2020-08-11 08:00"), "funding_rate"], 1e-4)
    close_utc = pd.DatetimeIndex(pd.to_datetime(raw["Timestamp"])).tz_localize("UTC")
    opens = close_utc - pd.Timedelta(hours=8)
    c.arrays("FPC perp open", perp.loc[opens, "open"], raw["Open_futures"])
    c.arrays("FPC perp low", perp.loc[opens, "low"], raw["Low_futures"])
    c.arrays("FPC spot close", spot.loc[opens, "close"], raw["Close_spot"])
    c.arrays("FPC spot volume", spot.loc[opens, "volume"], raw["Volume"])
    c.arrays("FPC funding", fund.loc[close_utc, "funding_rate"], raw["Funding Rate"])


def _aha(shared: Path) -> pd.DataFrame:
    raw = pd.read_csv(shared / AHA_FILE)
    raw["utc"] = [_london_to_utc(t) for t in raw["time"]]
    return raw


def _aha_rows(aha: pd.DataFrame, exchange: str, pair: str) -> pd.DataFrame:
    rows = aha[(aha["exchange"] == exchange) & (aha["pair"] == pair)].set_index("utc")
    return rows[(rows.index >= _ts(START)) & (rows.index < _ts(END))]


def check_aha(c: Checker, shared: Path, store: Store) -> None:
    """AHA-HH: London wall-clock times at known instants, then every series against the raw."""
    okx = _frame(store, "okx", "ETH/USD:ETH", "ohlcv", "8h")
    c.equal("AHA okx ETH open 2023-07-01 (BST)", okx.loc[_ts("2023-07-01"), "open"], 1927.47)
    c.equal("AHA okx ETH close 2023-07-01 (BST)", okx.loc[_ts("2023-07-01"), "close"], 1920.69)
    okx_f = _frame(store, "okx", "ETH/USD:ETH", "funding")
    c.equal(
        "AHA okx ETH funding 2023-07-01",
        okx_f.loc[_ts("2023-07-01"), "funding_rate"],
        0.0001427266456923,
    )
    bybit = _frame(store, "bybit", "BTC/USD:BTC", "ohlcv", "8h")
    c.equal(
        "AHA bybit BTC open 2023-01-15 08:00 (GMT)",
        bybit.loc[_ts("2023-01-15 08:00"), "open"],
        20735.5,
    )
    eth = _frame(store, "binance", "ETH/USD:ETH", "ohlcv", "8h")
    c.equal("AHA DST fallback 2023-10-29 00:00", eth.loc[_ts("2023-10-29 00:00"), "open"], 1776.37)
    c.equal("AHA no 2023-10-29 01:00 bar", _ts("2023-10-29 01:00") in eth.index, False)
    aha = _aha(shared)
    for exchange in ("binance", "bybit", "okx"):
        for coin in ("BTC", "ETH"):
            for pair, sym, series in (
                (f"{coin}USDCM", f"{coin}/USD:{coin}", "ohlcv"),
                (f"{coin}USDCM", f"{coin}/USD:{coin}", "funding"),
                (f"{coin}USDT", f"{coin}/USDT:USDT", "ohlcv"),
                (f"{coin}USDT", f"{coin}/USDT:USDT", "funding"),
                (f"{coin}/USDT", f"{coin}/USDT", "ohlcv"),
            ):
                name = f"AHA {exchange} {sym} {series}"
                rows = _aha_rows(aha, exchange, pair)
                c.equal(f"{name} rows", len(rows), 1641)
                stored = _frame(store, exchange, sym, series, "8h" if series == "ohlcv" else None)
                stored = stored[(stored.index >= _ts(START)) & (stored.index < _ts(END))]
                c.arrays(f"{name} times", stored.index.asi8, rows.index.as_unit("ns").asi8)
                if series == "ohlcv":
                    for col in ("open", "high", "low", "close"):
                        c.arrays(f"{name} {col}", stored[col], rows[col])
                else:
                    c.arrays(f"{name} rate", stored["funding_rate"], rows["funding rate"])
    fpc = _frame(store, "binance", "BTC/USD:BTC", "funding")["funding_rate"]
    rows = _aha_rows(aha, "binance", "BTCUSDCM")["funding rate"]
    common = fpc.index.intersection(rows.index)
    c.equal("Binance COIN-M BTC funding: FPC and AHA overlap", len(common), 1641)
    c.arrays("Binance COIN-M BTC funding: FPC vs AHA", fpc.loc[common], rows.loc[common])
    london = pd.read_csv(shared / LONDON_FUNDING)
    london.index = pd.DatetimeIndex([_london_to_utc(t) for t in london["Time"]])
    common = fpc.index.intersection(london.index)
    c.equal("Binance COIN-M BTC funding: FPC and London-time overlap", len(common), 3289)
    c.arrays(
        "Binance COIN-M BTC funding: FPC vs London-time",
        fpc.loc[common],
        london.loc[common, "Funding Rate"],
    )


def check_cdd(c: Checker, shared: Path, store: Store) -> None:
    """CryptoDataDownload 1h perp: newest first, Unix ms = UTC bar open; 8h opens agree."""
    raw = pd.read_csv(shared / CDD_FILE, skiprows=1)
    c.equal("CDD newest row first", int(raw.iloc[0]["Unix"]), 1723158000000)
    stored = _frame(store, "binance", "BTC/USD:BTC", "ohlcv", "1h")
    c.equal("CDD open 2024-08-08 23:00", stored.loc[_ts("2024-08-08 23:00"), "open"], 62349.0)
    c.equal("CDD close 2022-03-01 08:00", stored.loc[_ts("2022-03-01 08:00"), "close"], 43499.4)
    c.equal("CDD volume 2022-03-01 08:00", stored.loc[_ts("2022-03-01 08:00"), "volume"], 2171046.0)
    utc = pd.DatetimeIndex(pd.to_datetime(raw["Unix"], unit="ms", utc=True))
    c.equal("CDD rows", (len(stored), len(raw)), (34724, 34724))
    c.arrays("CDD open", stored.loc[utc, "open"], raw["Open"])
    c.equal(
        "CDD Date column is UTC",
        pd.DatetimeIndex(pd.to_datetime(raw["Date"])).tz_localize("UTC").equals(utc),
        True,
    )
    h8 = _frame(store, "binance", "BTC/USD:BTC", "ohlcv", "8h")["open"]
    common = h8.index.intersection(stored.index)
    c.equal("CDD 1h and FPC 8h perp overlap", len(common), 4322)
    c.arrays("CDD 1h vs FPC 8h perp open", h8.loc[common], stored["open"].loc[common])


def check_freqtrade(c: Checker, shared: Path, store: Store) -> None:
    """freqtrade feathers: spot 1h, USDT-M funding and mark; 8h spot opens = 1h opens; ATOM."""
    for coin in ("ETH", "SOL"):
        raw = pd.read_feather(shared / f"spot_1h/binance_spot_{coin}_USDT-1h.feather").set_index(
            "date"
        )
        stored = _frame(store, "binance", f"{coin}/USDT", "ohlcv", "1h")
        c.arrays(f"spot {coin} 1h close", stored["close"], raw.loc[stored.index, "close"])
    folder = shared / "linear_perp/binance_freqtrade"
    raw = pd.read_feather(folder / "binance_usdtm_BTC_USDT_USDT-1h-funding_rate.feather").set_index(
        "date"
    )
    stored = _frame(store, "binance", "BTC/USDT:USDT", "funding")
    c.arrays("USDT-M BTC funding", stored["funding_rate"], raw.loc[stored.index, "open"])
    raw = pd.read_feather(folder / "binance_usdtm_ETH_USDT_USDT-1h-mark.feather").set_index("date")
    stored = _frame(store, "binance", "ETH/USDT:USDT", "mark", "1h")
    c.arrays("USDT-M ETH mark high", stored["high"], raw.loc[stored.index, "high"])
    for coin in ("BTC", "ETH"):
        h8 = _frame(store, "binance", f"{coin}/USDT", "ohlcv", "8h")["open"]
        h1 = _frame(store, "binance", f"{coin}/USDT", "ohlcv", "1h")["open"]
        common = h8.index.intersection(h1.index)
        c.equal(f"spot {coin} 8h and 1h overlap", len(common), 1641)
        c.arrays(f"spot {coin} 8h vs 1h open", h8.loc[common], h1.loc[common])
    raw = pd.read_feather(shared / "spot_1h/binance_spot_BTC_USDT-1h.feather").set_index("date")
    h8 = _frame(store, "binance", "BTC/USDT", "ohlcv", "8h")["open"]
    common = h8.index.intersection(raw.index)
    c.equal("spot BTC 8h vs raw 1h overlap >= 5160", len(common) >= 5160, True)
    c.arrays("spot BTC 8h vs raw 1h open", h8.loc[common], raw.loc[common, "open"])
    pieces = shared / "spot_1h/atom_pieces"
    stored = _frame(store, "binance", "ATOM/USDT", "ohlcv", "1h")
    mounik = pd.read_feather(pieces / ATOM_PIECES[1][0]).set_index("date")
    gene = pd.read_feather(pieces / ATOM_PIECES[3][0]).set_index("date")
    early = stored[stored.index < _ts("2024-05-01")]
    late = stored[stored.index >= _ts("2024-05-09")]
    c.arrays("ATOM early vs Mounik", early["close"], mounik.loc[early.index, "close"])
    c.arrays("ATOM late vs GeneTrader", late["close"], gene.loc[late.index, "close"])
    missing = pd.date_range(stored.index[0], stored.index[-1], freq="1h").difference(stored.index)
    c.equal("ATOM missing hours", [str(t) for t in missing], ["2023-03-24 13:00:00+00:00"])


def check_deribit(c: Checker, shared: Path, store: Store) -> None:
    """Deribit quarterlies: the row labelled D is the close of the 1d bar [D 08:00, D+1 08:00)."""
    raw = pd.read_csv(shared / DERIBIT_FILE, index_col=0)
    for label, symbol, fut, perp in (
        ("2023-01-01", "BTC/USD:BTC-230331", 16682.0, 16714.0),
        ("2023-06-30", "BTC/USD:BTC-230929", 30835.0, 30478.0),
        ("2023-12-29", "BTC/USD:BTC-240329", 43605.0, 41995.0),
        ("2024-03-29", "BTC/USD:BTC-240628", 73710.0, 69950.5),
        ("2024-07-31", "BTC/USD:BTC-240927", 65222.5, 64309.0),
    ):
        bar = _ts(label) + pd.Timedelta(hours=8)
        stored = _frame(store, "deribit", symbol, "ohlcv", "1d")
        c.equal(f"Deribit {symbol} close of the bar opening {bar}", stored.loc[bar, "close"], fut)
        stored = _frame(store, "deribit", "BTC/USD:BTC", "ohlcv", "1d")
        c.equal(
            f"Deribit BTC-PERPETUAL close of the bar opening {bar}", stored.loc[bar, "close"], perp
        )
    c.equal("Deribit source rows", len(raw), 578)
    total = 0
    for inst in dict.fromkeys(raw["inst"]):
        stored = _frame(store, "deribit", deribit_symbol(inst), "ohlcv", "1d")
        rows = raw[raw["inst"] == inst]
        opens = pd.DatetimeIndex(pd.to_datetime(rows.index, utc=True)) + pd.Timedelta(hours=8)
        c.arrays(f"Deribit {inst} bar opens", stored.index.asi8, opens.as_unit("ns").asi8)
        c.arrays(f"Deribit {inst} closes", stored["close"], rows["fut"])
        c.arrays(f"Deribit {inst} opens", stored["open"].iloc[1:], rows["fut"].iloc[:-1])
        total += len(stored)
    c.equal("Deribit contract rows add up to the source's", total, len(raw))


RAW_CHECKS = (
    ("FrancyPengChoco 8h", check_fpc),
    ("AHA-HH 8h, three exchanges", check_aha),
    ("CryptoDataDownload 1h", check_cdd),
    ("freqtrade feathers", check_freqtrade),
    ("Deribit quarterlies 1d on 08:00 UTC", check_deribit),
)


def check(shared: Path, committed: Path) -> int:
    """Rebuild into a temporary folder and compare; print a summary; 0 if all agree, else 1."""
    import tempfile

    c = Checker()
    with tempfile.TemporaryDirectory(prefix="perphedge-bundled-") as tmp:
        try:
            outputs = build(shared, Path(tmp))  # runs the cross-checks between sources
        except SystemExit as exc:
            print(f"FAILED: the rebuild stopped: {exc}")
            return 1
        refetched = compare_stores(c, Path(tmp), committed)
    compared = c.passed
    store = Store(committed)
    for name, fn in RAW_CHECKS:
        c.run(name, fn, shared, store)
    print(
        f"rebuilt {len(outputs)} files: {compared} comparisons with {committed} "
        f"({refetched} with another fetched_at, the raw files' modification time, not compared); "
        f"{c.passed - compared} known-value checks against the raw files"
    )
    for line in c.problems:
        print(f"DIFFERS: {line}")
    print(f"{len(c.problems)} difference(s)" if c.problems else "bundled data OK")
    return 1 if c.problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "data")
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild into a temporary folder and compare with --out; write nothing",
    )
    args = parser.parse_args(argv)
    if args.check:
        return check(args.shared.resolve(), args.out.resolve())
    outputs = build(args.shared.resolve(), args.out)
    for o in outputs:
        print(f"{o.path}  {o.rows:>6} rows  {o.first:%Y-%m-%d %H:%M} .. {o.last:%Y-%m-%d %H:%M}")
    print(f"{len(outputs)} files written under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
