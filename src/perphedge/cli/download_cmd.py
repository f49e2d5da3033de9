"""``backtest download``: fetch market data from an exchange into the local Parquet store.

Two forms::

    backtest download --exchange binance --symbol ETH/USD:ETH --series mark,funding \\
        --timeframe 1h --since 2023-01-01 [--until 2024-07-01] [--data-dir data]
    backtest download configs/eth_l1_basket.yaml      # everything the config needs

The command builds the ccxt client (async, rate limited) through :func:`make_exchange`; the
library functions it calls take the client in, so tests replace this one factory.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # ccxt costs ~0.45 s to import: only the download itself loads it
    from perphedge.data.download import DownloadOptions, DownloadResult, SeriesRequest
from perphedge.data.store import DEFAULT_SINCE, Store
from perphedge.domain import Series, Timeframe
from perphedge.errors import PerphedgeError


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _parse_series(text: str) -> list[Series]:
    out = []
    for part in _split(text):
        try:
            out.append(Series(part.lower()))
        except ValueError:
            allowed = ", ".join(s.value for s in Series)
            raise click.BadParameter(f"unknown series {part!r}; use {allowed}") from None
    if not out:
        raise click.BadParameter("no series given")
    return out


def _requests_from_flags(
    symbols: list[str], series: list[Series], timeframe: str | None, since: str, until: str | None
) -> list[SeriesRequest]:
    from perphedge.data.download import SeriesRequest

    tf = None
    if timeframe is not None:
        try:
            tf = Timeframe.parse(timeframe)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--timeframe") from None
    if tf is None and any(s.is_candles for s in series):
        raise click.BadParameter(
            "candle series (ohlcv, mark, index) need --timeframe, e.g. --timeframe 1h",
            param_hint="--timeframe",
        )
    try:
        return [
            SeriesRequest.make(sym, s, tf if s.is_candles else None, since, until)
            for sym in symbols
            for s in series
        ]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _requests_from_config(config_path: Path) -> tuple[dict[str, list[SeriesRequest]], Path | None]:
    """Group what a config needs by exchange; also return the config's data root if known."""
    from perphedge.data.download import SeriesRequest

    try:
        from perphedge.config import load_config
        from perphedge.runner import required_data
    except ImportError as exc:
        raise PerphedgeError(
            f"downloading from a config needs perphedge.config and perphedge.runner ({exc}); "
            "use --exchange/--symbol/--series instead"
        ) from None
    config = load_config(config_path)
    try:
        needed = required_data(config, config_path)
    except ImportError as exc:
        raise PerphedgeError(
            f"downloading from a config needs the market layer ({exc}); "
            "use --exchange/--symbol/--series instead"
        ) from None
    root: Path | None = None
    try:
        from perphedge.runner import data_spec

        root = Path(data_spec(config, config_path).root)
    except (ImportError, AttributeError):
        root = None
    grouped: dict[str, list[SeriesRequest]] = defaultdict(list)
    for item in needed:
        key, start, end = _unpack_need(item)
        grouped[key.exchange].append(
            SeriesRequest.make(key.symbol, key.series, key.timeframe, start, end)
        )
    return dict(grouped), root


def _unpack_need(item: Any) -> tuple[Any, Any, Any]:
    if isinstance(item, tuple) and len(item) == 3:
        return item
    if all(hasattr(item, name) for name in ("key", "start", "end")):
        return item.key, item.start, item.end
    raise PerphedgeError(f"required_data returned {item!r}; expected (SeriesKey, start, end)")


def make_exchange(exchange_id: str) -> Any:
    """The ccxt client for ``exchange_id`` (tests replace this one factory)."""
    from perphedge.data.download import make_exchange as build

    return build(exchange_id)


def _run_exchange(
    exchange_id: str, store: Store, requests: list[SeriesRequest], options: DownloadOptions
) -> list[DownloadResult]:
    from perphedge.data.download import download_all, download_all_async, is_async_exchange

    exchange = make_exchange(exchange_id)
    if not is_async_exchange(exchange):
        return download_all(exchange, store, requests, options)

    async def main() -> list[DownloadResult]:
        try:
            return await download_all_async(exchange, store, requests, options)
        finally:
            await exchange.close()

    return asyncio.run(main())


def _echo_retry(message: str) -> None:
    """Retries go to stderr (above any progress bar): stdout holds only the results."""
    import sys

    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def _report(result: DownloadResult) -> str:
    span = "no rows"
    if result.first is not None and result.last is not None:
        span = f"{result.first:%Y-%m-%d %H:%M} .. {result.last:%Y-%m-%d %H:%M} UTC"
    return (
        f"{result.key}: +{result.rows_added} rows, {span}, {result.requests} requests"
        f" -> {result.path or '-'}"
    )


@click.command("download")
@click.argument(
    "config", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--exchange", default="binance", show_default=True, help="ccxt exchange id.")
@click.option("--symbol", "symbols", help="ccxt symbol(s), comma separated, e.g. ETH/USD:ETH.")
@click.option(
    "--series", "series_text", default="ohlcv", show_default=True,
    help="Comma separated: ohlcv, mark, index, funding.",
)  # fmt: skip
@click.option("--timeframe", default=None, help="Bar length for candle series, e.g. 1h, 8h.")
@click.option("--since", default=DEFAULT_SINCE, show_default=True, help="Start (UTC).")
@click.option("--until", default=None, help="End (UTC, exclusive); default: now.")
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Root of the Parquet store [default: data, or the config's data.root].",
)  # fmt: skip
@click.option(
    "--retries", type=click.IntRange(0, 50), default=5, show_default=True,
    help="Retries of a failing request, waiting 1, 2, 4, 8, then 15 s each (5: about 30 s).",
)  # fmt: skip
@click.option(
    "--refetch-gaps", is_flag=True,
    help="Ask again for spans recorded as the exchange's own gaps (exchange_gaps).",
)  # fmt: skip
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
def download(
    config: Path | None,
    exchange: str,
    symbols: str | None,
    series_text: str,
    timeframe: str | None,
    since: str,
    until: str | None,
    data_dir: Path | None,
    retries: int,
    refetch_gaps: bool,
    no_progress: bool,
) -> None:
    """Fetch candles (ohlcv, mark, index) and funding history into the store, incrementally.

    Either CONFIG (everything that config needs, over its period, into its data.root) or
    --symbol with --series (by hand). A second run fetches only what the store lacks, holes
    inside it included. Needs network access to the exchange (ccxt); each retry is reported
    on stderr, and a request gives up after --retries (about 30 s by default). Examples:

    \b
        backtest download configs/eth_l1_basket.yaml
        backtest download --exchange binance --symbol ETH/USD:ETH --series mark,funding \\
            --timeframe 1h --since 2023-01-01 --until 2024-07-01
    """
    if config is not None and symbols:
        raise click.UsageError("give either CONFIG or --symbol, not both")
    if config is None and not symbols:
        raise click.UsageError("give a CONFIG file or --symbol (see --help)")
    if config is not None:
        by_exchange, config_root = _requests_from_config(config)
        root = data_dir or config_root or Path("data")
    else:
        assert symbols is not None  # checked above
        reqs = _requests_from_flags(
            _split(symbols), _parse_series(series_text), timeframe, since, until
        )
        by_exchange, root = {exchange: reqs}, data_dir or Path("data")
    store = Store(root)
    from perphedge.data.download import DownloadOptions, RetryPolicy

    options = DownloadOptions(
        progress=not no_progress,
        retry=RetryPolicy.with_retries(retries),
        on_retry=_echo_retry,
        refetch_gaps=refetch_gaps,
    )
    for exchange_id, reqs in by_exchange.items():
        for result in _run_exchange(exchange_id, store, reqs, options):
            click.echo(_report(result))


COMMANDS = [download]
