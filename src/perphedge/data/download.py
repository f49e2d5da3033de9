"""ccxt downloader: fills the Parquet store incrementally from an exchange object passed in.

Why its own loop: ccxt's ``paginate`` moves the start of old requests and, on Binance COIN-M
with ``until`` set, keeps only the last page. Here every request is an explicit window
``since``, ``until = since + n * timeframe - 1``, ``limit = n``, so a window can never hold more
rows than the exchange returns, whichever end of the range the exchange pages from.

Per series (a :class:`SeriesRequest`):

- **tail**: from the cache's last row (or the requested start) forward to ``end`` or the last
  closed bar (the still-open bar, ``open + timeframe > exchange.milliseconds()``, is dropped);
- **head**: when asked for an earlier start than the cache holds, backwards from the cache's
  first row, newest window first, so an interrupted head still leaves one contiguous block;
  it stops at the first empty window (before the listing). ``covered_from`` in the metadata
  remembers that the span before the first row was searched, so later runs do not ask again;
- before the first data of a fresh download, empty windows are stepped over; the listing date
  from the market (``market['created']``) is used when known, otherwise one probe request
  without ``until`` jumps to the first row. The loop is bounded by the window count.

Rows are de-duplicated and written through :meth:`Store.merge_write` (atomic) every
``flush_every`` windows and when the series ends or fails, so a killed run leaves a readable,
resumable file. ccxt ``NetworkError``s (timeouts, 429/418, 503, ...) and plain
``OperationFailed`` are retried with capped exponential backoff; every other ccxt error
(``BadSymbol``, ``BadRequest``, ``ExchangeError``) raises :class:`DownloadError` at once.
ccxt's own rate limiter (``enableRateLimit``) is left in charge of pacing; with the async
client several series run concurrently through one exchange object, so they share its limiter.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import numbers
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ccxt
import pandas as pd
import pyarrow.parquet as pq

from perphedge import __version__
from perphedge.data.store import SeriesKey, Store
from perphedge.domain import Series, Timeframe
from perphedge.errors import DownloadError

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_ALIGN_MS = 4 * DAY_MS  # ccxt/Binance weekly bars open on Mondays; 1970-01-01 was a Thursday

# Exchange ids stored under the one ccxt id that covers all of their markets.
_CANONICAL_EXCHANGE = {"binancecoinm": "binance", "binanceusdm": "binance"}
# Hard limits that ccxt does not express in ``features``: Binance COIN-M candles allow at most
# 200 days between startTime and endTime; ccxt's binance.fetch_ohlcv caps ``limit`` at 1000.
_MAX_SPAN_MS = {("binance", "inverse"): 200 * DAY_MS}
_MAX_CANDLE_LIMIT = {"binance": 1000}
_FUNDING_LIMIT = {"binance": 1000}

SleepFn = Callable[[float], Any]


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff: ``min(max_delay, base_delay * 2**attempt)`` seconds."""

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * (2**attempt))


@dataclass(frozen=True)
class DownloadOptions:
    """Knobs of a download. ``sleep`` (sync or async callable) is injectable for tests."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    window_bars: int | None = None  # candles per request; default from the exchange's limits
    funding_limit: int | None = None  # funding events per request
    flush_every: int = 10  # write to the store after this many windows (and at the end)
    progress: bool = True
    sleep: SleepFn | None = None
    exchange_name: str | None = None  # store id; default: canonical ccxt id


@dataclass(frozen=True)
class SeriesRequest:
    """One series to fetch: bars with ``start <= open < end`` (``end`` None = up to now)."""

    symbol: str
    series: Series
    timeframe: Timeframe | None
    start: pd.Timestamp
    end: pd.Timestamp | None = None

    @classmethod
    def make(
        cls,
        symbol: str,
        series: Series | str,
        timeframe: Timeframe | str | None,
        start: Any,
        end: Any = None,
    ) -> SeriesRequest:
        s = Series(series)
        tf = None if (timeframe is None or not s.is_candles) else Timeframe.parse(timeframe)
        if s.is_candles and tf is None:
            raise ValueError(f"series {s.value} needs a timeframe")
        return cls(symbol, s, tf, to_utc(start), None if end is None else to_utc(end))


@dataclass(frozen=True)
class DownloadResult:
    key: SeriesKey
    path: str | None
    rows_added: int
    requests: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None


def to_utc(value: Any) -> pd.Timestamp:
    """A timestamp in UTC; naive input is taken as UTC, ints as epoch milliseconds."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return pd.Timestamp(int(value), unit="ms", tz="UTC")
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _align_up(t: int, tf: int) -> int:
    off = WEEK_ALIGN_MS if tf == 7 * DAY_MS else 0
    return -(-(t - off) // tf) * tf + off


def _align_down(t: int, tf: int) -> int:
    off = WEEK_ALIGN_MS if tf == 7 * DAY_MS else 0
    return ((t - off) // tf) * tf + off


def store_exchange_name(exchange: Any) -> str:
    """The store's exchange id for a ccxt client (``binancecoinm`` -> ``binance``)."""
    return _CANONICAL_EXCHANGE.get(exchange.id, exchange.id)


def library_versions() -> str:
    return f"perphedge {__version__}; ccxt {ccxt.__version__}; pandas {pd.__version__}"


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Call:
    """One exchange request the driver performs (with retries) for the job."""

    method: str
    args: tuple[Any, ...]
    params: dict[str, Any]
    note: str


class _Job:
    """The window loop of one series, as a generator of :class:`_Call`s (no I/O to the
    exchange here), so the sync and the async drivers share it."""

    def __init__(
        self,
        exchange: Any,
        store: Store,
        request: SeriesRequest,
        options: DownloadOptions,
    ) -> None:
        self.exchange = exchange
        self.store = store
        self.req = request
        self.opt = options
        name = options.exchange_name or store_exchange_name(exchange)
        self.key = SeriesKey(name, request.symbol, request.series, request.timeframe)
        self.label = f"{exchange.id} {request.symbol} {request.series.value}" + (
            f" {request.timeframe}" if request.timeframe else ""
        )
        self.market: dict[str, Any] = {}
        self.pending: list[pd.DataFrame] = []
        self.pending_windows = 0
        self.rows_added = 0
        self.requests = 0
        self.covered_from: int | None = None
        self.meta_dirty = False
        self.path: str | None = None
        self.total_windows = 0
        self.on_window: Callable[[], None] = lambda: None

    # ---- setup ---------------------------------------------------------------------------
    def bind_market(self) -> None:
        try:
            self.market = self.exchange.market(self.req.symbol)
        except ccxt.BaseError as exc:
            raise DownloadError(f"{self.label}: {type(exc).__name__}: {exc}") from None
        if self.req.series in (Series.MARK, Series.INDEX, Series.FUNDING) and not self.market.get(
            "contract"
        ):
            raise DownloadError(
                f"{self.label}: {self.req.series.value} needs a perpetual market, "
                f"{self.req.symbol} is {self.market.get('type')}"
            )

    def meta(self) -> dict[str, Any]:
        m = self.market
        kind = "inverse" if m.get("inverse") else "linear" if m.get("linear") else None
        out: dict[str, Any] = {
            "kind": kind,
            "contract_size": m.get("contractSize"),
            "source": f"ccxt {self.exchange.id}",
            "library": library_versions(),
        }
        if self.covered_from is not None:
            out["covered_from"] = _iso(self.covered_from)
        if self.req.series in (Series.MARK, Series.INDEX):
            out["ccxt_price"] = self.req.series.value
        return out

    def _cache_span(self) -> tuple[int | None, int | None, int | None]:
        if not self.store.exists(self.key):
            return None, None, None
        frame, meta = self.store.read(self.key)
        if frame.empty:
            return None, None, None
        first, last = _ms(frame.index.min()), _ms(frame.index.max())
        covered = meta.get("covered_from")
        covered_ms = _ms(to_utc(covered)) if covered else first
        return first, last, covered_ms

    # ---- the generator -------------------------------------------------------------------
    def steps(self) -> Generator[_Call, list[Any], None]:
        try:
            if self.req.series.is_candles:
                yield from self._candle_steps()
            else:
                yield from self._funding_steps()
        finally:
            self.flush()

    def _now(self) -> int:
        return int(self.exchange.milliseconds())

    def _created(self) -> int | None:
        created = self.market.get("created")
        return int(created) if created else None

    def _candle_limit(self) -> int:
        """Bars per request: the option, else ccxt's ``features`` limit; never above what
        ccxt itself sends (a window wider than the limit would lose rows on exchanges that
        return the newest rows of a range, as Binance COIN-M does)."""
        cap = _MAX_CANDLE_LIMIT.get(self.key.exchange)
        if self.opt.window_bars:
            return min(self.opt.window_bars, cap or self.opt.window_bars)
        features = getattr(self.exchange, "features", None) or {}
        mtype = self.market.get("type") or "spot"
        sub = self.market.get("subType")
        node = features.get(mtype, {}) if isinstance(features, dict) else {}
        if isinstance(node, dict) and sub in node:
            node = node[sub]
        limit = (node.get("fetchOHLCV") or {}).get("limit") if isinstance(node, dict) else None
        limit = int(limit or 500)
        return min(limit, cap or limit)

    def _candle_call(self, since: int, until: int | None, limit: int, note: str) -> _Call:
        params: dict[str, Any] = {} if until is None else {"until": until}
        if self.req.series is Series.MARK:
            params["price"] = "mark"
        elif self.req.series is Series.INDEX:
            params["price"] = "index"
        tf = str(self.req.timeframe)
        return _Call("fetch_ohlcv", (self.req.symbol, tf, since, limit), params, note)

    def _candle_steps(self) -> Generator[_Call, list[Any], None]:
        assert self.req.timeframe is not None  # guaranteed by SeriesRequest.make
        tf = self.req.timeframe.ms
        now = self._now()
        n = self._candle_limit()
        max_span = _MAX_SPAN_MS.get((self.key.exchange, self.market.get("subType") or ""))
        if max_span is not None:
            n = max(1, min(n, max_span // tf))
        start = _align_up(_ms(self.req.start), tf)
        end_excl = _ms(self.req.end) if self.req.end is not None else now
        last_open = min(_align_down(end_excl - 1, tf), _align_down(now, tf) - tf)
        created = self._created()
        first, last, covered = self._cache_span()

        def keep(rows: list[Any], lo: int, hi: int) -> list[Any]:
            return [r for r in rows if lo <= r[0] <= hi and r[0] + tf <= now]

        # tail (or a fresh download)
        fresh = first is None
        # with a cache, continue right after it (a later start must not leave a hole)
        cursor = start if last is None else last + tf
        if fresh and created is not None:
            cursor = max(cursor, _align_up(created, tf))
        head_lo = start if created is None else max(start, _align_down(created, tf))
        need_head = first is not None and covered is not None and head_lo < min(first, covered)
        self.total_windows = max(0, math.ceil((last_open - cursor + tf) / (n * tf)))
        if need_head:
            assert first is not None
            self.total_windows += math.ceil((first - head_lo) / (n * tf))
        if fresh:
            self.covered_from = start
        probed = not fresh or created is not None
        seen = not fresh
        while cursor <= last_open:
            wend = min(cursor + n * tf - 1, last_open)
            rows = yield self._candle_call(cursor, wend, n, "tail")
            rows = keep(rows, cursor, wend)
            if rows:
                seen = True
                self._add_candles(rows)
            elif not seen and not probed:
                probed = True  # one request without until: the exchange's first rows from here
                probe = yield self._candle_call(cursor, None, n, "probe")
                later = [r[0] for r in probe if r[0] > wend]
                if later:
                    cursor = _align_down(min(later), tf)
                    self._window_done()
                    continue
            cursor = wend + 1
            self._window_done()

        # head, newest window first
        if need_head:
            assert first is not None
            hi = first - tf
            while hi >= head_lo:
                wstart = max(head_lo, hi - (n - 1) * tf)
                rows = yield self._candle_call(wstart, hi, n, "head")
                rows = keep(rows, wstart, hi)
                self._window_done()
                if not rows:
                    break  # before the listing
                self._add_candles(rows)
                hi = wstart - tf
            self.covered_from = start
            self.meta_dirty = True  # record the searched span on the next flush

    def _funding_steps(self) -> Generator[_Call, list[Any], None]:
        now = self._now()
        limit = self.opt.funding_limit or _FUNDING_LIMIT.get(self.key.exchange, 100)
        span = limit * HOUR_MS  # at >= 1 h intervals a window cannot overflow the limit
        start = _ms(self.req.start)
        end_incl = (_ms(self.req.end) - 1) if self.req.end is not None else now
        end_incl = min(end_incl, now)
        created = self._created()
        first, last, covered = self._cache_span()
        fresh = first is None
        cursor = start if last is None else last + 1
        if fresh and created is not None:
            cursor = max(cursor, created)
        head_lo = start if created is None else max(start, created)
        need_head = first is not None and covered is not None and head_lo < min(first, covered)
        self.total_windows = max(0, math.ceil((end_incl - cursor + 1) / span))
        if fresh:
            self.covered_from = start
        probed = not fresh or created is not None
        seen = not fresh

        def call(since: int, until: int | None, note: str) -> _Call:
            params = {} if until is None else {"until": until}
            return _Call(
                "fetch_funding_rate_history", (self.req.symbol, since, limit), params, note
            )

        while cursor <= end_incl:
            wend = min(cursor + span - 1, end_incl)
            rows = yield call(cursor, wend, "tail")
            rows = [r for r in rows if cursor <= r["timestamp"] <= wend]
            if rows:
                seen = True
                self._add_funding(rows)
                if len(rows) >= limit:  # full page: continue right after its last event
                    cursor = max(r["timestamp"] for r in rows) + 1
                    self._window_done()
                    continue
            elif not seen and not probed:
                probed = True
                probe = yield call(cursor, None, "probe")
                later = [r["timestamp"] for r in probe if r["timestamp"] > wend]
                if later:
                    cursor = min(later)
                    self._window_done()
                    continue
            cursor = wend + 1
            self._window_done()

        if need_head:
            assert first is not None
            hi = first - 1
            while hi >= head_lo:
                wstart = max(head_lo, hi - span + 1)
                rows = yield call(wstart, hi, "head")
                rows = [r for r in rows if wstart <= r["timestamp"] <= hi]
                self._window_done()
                if not rows:
                    break
                self._add_funding(rows)
                hi = wstart - 1
            self.covered_from = start
            self.meta_dirty = True

    # ---- rows -> frames -> store ---------------------------------------------------------
    def _add_candles(self, rows: list[Any]) -> None:
        frame = pd.DataFrame(
            [r[1:6] for r in rows],
            columns=["open", "high", "low", "close", "volume"],
            index=pd.DatetimeIndex(
                pd.to_datetime([int(r[0]) for r in rows], unit="ms", utc=True), name="timestamp"
            ).as_unit("ns"),
            dtype="float64",
        )
        self.pending.append(frame)

    def _add_funding(self, rows: list[dict[str, Any]]) -> None:
        data: dict[str, list[float]] = {"funding_rate": [float(r["fundingRate"]) for r in rows]}
        marks = [(r.get("info") or {}).get("markPrice") for r in rows]
        if any(m not in (None, "") for m in marks):
            data["mark_price"] = [float(m) if m not in (None, "") else math.nan for m in marks]
        index = pd.DatetimeIndex(
            pd.to_datetime([int(r["timestamp"]) for r in rows], unit="ms", utc=True),
            name="timestamp",
        ).as_unit("ns")
        self.pending.append(pd.DataFrame(data, index=index, dtype="float64"))

    def _window_done(self) -> None:
        self.pending_windows += 1
        self.on_window()
        if self.pending_windows >= max(1, self.opt.flush_every):
            self.flush()

    def flush(self) -> None:
        """Merge pending rows into the store (one atomic write); also records coverage."""
        self.pending_windows = 0
        if not self.pending and not (self.meta_dirty and self.store.exists(self.key)):
            return
        before = self._stored_rows()
        if self.pending:
            new = pd.concat(self.pending)
            new = new[~new.index.duplicated(keep="last")].sort_index()
        else:
            new = self.store.read(self.key)[0].iloc[:0]
        self.path = str(self.store.merge_write(self.key, new, self.meta()))
        self.rows_added += self._stored_rows() - before
        self.pending = []
        self.meta_dirty = False

    def _stored_rows(self) -> int:
        if not self.store.exists(self.key):
            return 0
        return int(pq.ParquetFile(self.store.path(self.key)).metadata.num_rows)

    def result(self) -> DownloadResult:
        first = last = None
        if self.store.exists(self.key):
            frame, _ = self.store.read(self.key)
            if not frame.empty:
                first, last = frame.index.min(), frame.index.max()
        path = self.path or (
            str(self.store.path(self.key)) if self.store.exists(self.key) else None
        )
        return DownloadResult(self.key, path, self.rows_added, self.requests, first, last)


# --------------------------------------------------------------------------- retries


def _is_retryable(exc: BaseException) -> bool:
    """The ccxt NetworkError family, and bare OperationFailed (e.g. Binance -1001 "Internal
    error; please try again"); ExchangeError and its subclasses are permanent."""
    if isinstance(exc, ccxt.NetworkError):
        return True
    return type(exc) is ccxt.OperationFailed


def _fatal(label: str, exc: BaseException) -> DownloadError:
    return DownloadError(f"{label}: {type(exc).__name__}: {exc}")


def _gave_up(label: str, attempts: int, exc: BaseException) -> DownloadError:
    return DownloadError(f"{label}: gave up after {attempts} attempts: {type(exc).__name__}: {exc}")


def _call_sync(exchange: Any, call: _Call, job: _Job, retry: RetryPolicy, sleep: SleepFn) -> Any:
    method = getattr(exchange, call.method)
    for attempt in range(retry.max_attempts):
        try:
            job.requests += 1
            return method(*call.args, params=dict(call.params))
        except ccxt.BaseError as exc:
            if not _is_retryable(exc):
                raise _fatal(job.label, exc) from None
            if attempt + 1 >= retry.max_attempts:
                raise _gave_up(job.label, retry.max_attempts, exc) from None
            sleep(retry.delay(attempt))
    raise AssertionError("unreachable")


async def _call_async(
    exchange: Any, call: _Call, job: _Job, retry: RetryPolicy, sleep: SleepFn
) -> Any:
    method = getattr(exchange, call.method)
    for attempt in range(retry.max_attempts):
        try:
            job.requests += 1
            return await method(*call.args, params=dict(call.params))
        except ccxt.BaseError as exc:
            if not _is_retryable(exc):
                raise _fatal(job.label, exc) from None
            if attempt + 1 >= retry.max_attempts:
                raise _gave_up(job.label, retry.max_attempts, exc) from None
            waited = sleep(retry.delay(attempt))
            if inspect.isawaitable(waited):
                await waited
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- drivers


def is_async_exchange(exchange: Any) -> bool:
    return inspect.iscoroutinefunction(getattr(exchange, "fetch_ohlcv", None))


def _progress(job: _Job, options: DownloadOptions, position: int) -> Any:
    from tqdm.auto import tqdm

    bar = tqdm(
        total=job.total_windows or None,
        desc=str(job.key),
        unit="req",
        position=position,
        leave=True,
        disable=None if options.progress else True,  # None: only on a terminal
    )
    job.on_window = lambda: bar.update(1)
    return bar


def _load_markets_sync(exchange: Any, retry: RetryPolicy, sleep: SleepFn) -> None:
    for attempt in range(retry.max_attempts):
        try:
            exchange.load_markets()
            return
        except ccxt.BaseError as exc:
            if not _is_retryable(exc) or attempt + 1 >= retry.max_attempts:
                raise DownloadError(
                    f"{exchange.id}: loading markets failed: {type(exc).__name__}: {exc}"
                ) from None
            sleep(retry.delay(attempt))


async def _load_markets_async(exchange: Any, retry: RetryPolicy, sleep: SleepFn) -> None:
    for attempt in range(retry.max_attempts):
        try:
            await exchange.load_markets()
            return
        except ccxt.BaseError as exc:
            if not _is_retryable(exc) or attempt + 1 >= retry.max_attempts:
                raise DownloadError(
                    f"{exchange.id}: loading markets failed: {type(exc).__name__}: {exc}"
                ) from None
            waited = sleep(retry.delay(attempt))
            if inspect.isawaitable(waited):
                await waited


def download_series(
    exchange: Any,
    store: Store,
    request: SeriesRequest,
    options: DownloadOptions | None = None,
    *,
    _position: int = 0,
) -> DownloadResult:
    """Fetch one series with a sync ccxt client into ``store``; returns what was added."""
    opt = options or DownloadOptions()
    if is_async_exchange(exchange):
        raise TypeError("download_series needs a sync ccxt client; use download_series_async")
    sleep = opt.sleep or time.sleep
    _load_markets_sync(exchange, opt.retry, sleep)
    job = _Job(exchange, store, request, opt)
    job.bind_market()
    gen = job.steps()
    bar = None
    try:
        call = next(gen)
        bar = _progress(job, opt, _position)
        while True:
            rows = _call_sync(exchange, call, job, opt.retry, sleep)
            call = gen.send(rows)
    except StopIteration:
        pass
    finally:
        gen.close()  # flushes pending rows even when a request failed
        if bar is not None:
            bar.close()
    return job.result()


async def download_series_async(
    exchange: Any,
    store: Store,
    request: SeriesRequest,
    options: DownloadOptions | None = None,
    *,
    _position: int = 0,
) -> DownloadResult:
    """Fetch one series with an async ccxt client (``ccxt.async_support``) into ``store``."""
    opt = options or DownloadOptions()
    if not is_async_exchange(exchange):
        raise TypeError("download_series_async needs a ccxt.async_support client")
    sleep = opt.sleep or asyncio.sleep
    await _load_markets_async(exchange, opt.retry, sleep)
    job = _Job(exchange, store, request, opt)
    job.bind_market()
    gen = job.steps()
    bar = None
    try:
        call = next(gen)
        bar = _progress(job, opt, _position)
        while True:
            rows = await _call_async(exchange, call, job, opt.retry, sleep)
            call = gen.send(rows)
    except StopIteration:
        pass
    finally:
        gen.close()
        if bar is not None:
            bar.close()
    return job.result()


async def download_all_async(
    exchange: Any,
    store: Store,
    requests: Sequence[SeriesRequest],
    options: DownloadOptions | None = None,
) -> list[DownloadResult]:
    """Fetch independent series concurrently (``asyncio.gather``) through one async client.

    Every series runs to its end or its own error; then the first error, if any, is raised
    as a :class:`DownloadError` that names every failed series.
    """
    opt = options or DownloadOptions()
    sleep = opt.sleep or asyncio.sleep
    await _load_markets_async(exchange, opt.retry, sleep)
    outcomes = await asyncio.gather(
        *(
            download_series_async(exchange, store, req, opt, _position=i)
            for i, req in enumerate(requests)
        ),
        return_exceptions=True,
    )
    return _collect(outcomes)


def download_all(
    exchange: Any,
    store: Store,
    requests: Iterable[SeriesRequest],
    options: DownloadOptions | None = None,
) -> list[DownloadResult]:
    """Fetch several series: one after the other with a sync client, concurrently with an
    async one (run in a fresh event loop; the caller closes the client afterwards)."""
    reqs = list(requests)
    if is_async_exchange(exchange):
        return asyncio.run(download_all_async(exchange, store, reqs, options))
    outcomes: list[DownloadResult | BaseException] = []
    for i, req in enumerate(reqs):
        try:
            outcomes.append(download_series(exchange, store, req, options, _position=i))
        except DownloadError as exc:
            outcomes.append(exc)
    return _collect(outcomes)


def _collect(outcomes: Sequence[Any]) -> list[DownloadResult]:
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    for err in errors:
        if not isinstance(err, DownloadError):
            raise err
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise DownloadError(f"{len(errors)} series failed: " + "; ".join(str(e) for e in errors))
    return list(outcomes)


def make_exchange(exchange_id: str, *, use_async: bool = True, config: dict | None = None) -> Any:
    """Build a ccxt client (rate limiting on) for the CLI; library callers pass their own."""
    module: Any = ccxt
    if use_async:
        import ccxt.async_support as module
    cls = getattr(module, exchange_id, None)
    if cls is None or not isinstance(cls, type):
        raise DownloadError(f"unknown ccxt exchange id {exchange_id!r}")
    return cls({"enableRateLimit": True, **(config or {})})


__all__ = [
    "DownloadOptions",
    "DownloadResult",
    "RetryPolicy",
    "SeriesRequest",
    "download_all",
    "download_all_async",
    "download_series",
    "download_series_async",
    "is_async_exchange",
    "library_versions",
    "make_exchange",
    "store_exchange_name",
    "to_utc",
]
