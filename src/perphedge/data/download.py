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
  without ``until`` jumps to the first row (and shows a wrongly empty window, which is then
  asked again). The loop is bounded by the window count;
- **holes** (candles): gaps inside the cached rows are asked for first (less the spans recorded in the
  metadata as the exchange's own gaps, ``exchange_gaps``).

A page that ends before its window (rows repeated inside a page make ccxt cut it at ``limit``)
is continued right after its last row. Once a series has rows, an empty window (for funding:
one of a day or more) is asked again
like a failed request; if it stays empty and rows follow, the span is recorded in
``exchange_gaps`` and the series ends with a :class:`DownloadError` naming it (later runs skip
it unless ``refetch_gaps``).

Rows are de-duplicated and merged into the store every ``flush_every`` windows and when the
series ends or fails, under the series' lock (:func:`perphedge.data.store.series_lock`: re-read,
merge, atomic write), so a killed run leaves a readable, resumable file and concurrent
downloads of one series lose nothing; ``first_row``/``last_row`` in the metadata describe the
stored rows. ccxt ``NetworkError``s (timeouts, 429/418, 503, ...), plain ``OperationFailed`` and
pages that cannot be parsed (ccxt returns ``[]`` for a truncated JSON or HTML body with status
200) are retried on :class:`RetryPolicy`'s schedule within its time budget, honouring
``Retry-After``; each retry is reported through ``DownloadOptions.on_retry`` (stderr). Every
other ccxt error (``BadSymbol``, ``BadRequest``, ``ExchangeError``) raises
:class:`DownloadError` at once; an exchange that cannot be reached gives an error naming the
host and the cause. ccxt's own rate limiter (``enableRateLimit``) is left in charge of pacing;
with the async client several series run concurrently through one exchange object, so they
share its limiter.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import numbers
import re
import sys
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ccxt
import pandas as pd
import pyarrow.parquet as pq

from perphedge import __version__
from perphedge.data.store import SeriesKey, Store, series_lock
from perphedge.data.validate import candle_gaps
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
    """Capped exponential backoff: ``min(max_delay, base_delay * 2**attempt)`` seconds between
    ``max_attempts`` tries of one request (default waits 1, 2, 4, 8, 15: 30 s in all). All of it
    happens within ``budget`` seconds of the first try (default: the waits plus ``slack``, room
    for one ccxt time-out of 10 s). A ``Retry-After`` header on 429/418 is honoured up to
    ``max_retry_after`` seconds, and only within the budget."""

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 15.0
    budget: float | None = None
    slack: float = 10.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * (2**attempt))

    def waits(self) -> float:
        """Seconds of waiting when every try fails."""
        return sum(self.delay(i) for i in range(max(0, self.max_attempts - 1)))

    def total(self) -> float:
        """Seconds one request may take, retries included, from its first try."""
        return self.budget if self.budget is not None else self.waits() + self.slack

    @classmethod
    def with_retries(cls, retries: int) -> RetryPolicy:
        """The default schedule with ``retries`` retries after the first try."""
        if retries < 0:
            raise ValueError("retries must be >= 0")
        return cls(max_attempts=retries + 1)


def _report_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class DownloadOptions:
    """Knobs of a download. ``sleep`` (sync or async callable) and ``clock`` (monotonic
    seconds) are injectable for tests; ``on_retry`` receives one line per retry (default:
    stderr, never stdout)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    window_bars: int | None = None  # candles per request; default from the exchange's limits
    funding_limit: int | None = None  # funding events per request
    flush_every: int = 10  # write to the store after this many windows (and at the end)
    progress: bool = True
    sleep: SleepFn | None = None
    clock: Callable[[], float] = time.monotonic
    on_retry: Callable[[str], None] = _report_to_stderr
    exchange_name: str | None = None  # store id; default: canonical ccxt id
    refetch_gaps: bool = False  # ask again for spans recorded as the exchange's gaps


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


def _read_gaps(value: Any) -> list[tuple[int, int]]:
    """``exchange_gaps`` metadata (pairs of ISO times) as millisecond pairs; junk is ignored."""
    out = []
    for item in value if isinstance(value, list) else []:
        try:
            lo, hi = item
            out.append((_ms(to_utc(lo)), _ms(to_utc(hi))))
        except (TypeError, ValueError):
            continue
    return out


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Call:
    """One exchange request the driver performs (with retries) for the job."""

    method: str
    args: tuple[Any, ...]
    params: dict[str, Any]
    note: str
    expect_rows: bool = False  # an empty answer is suspect (data before it): ask again

    def describe(self) -> str:
        """``fetch_ohlcv 2023-01-01T00:00:00Z..2023-01-02T00:00:00Z`` (the window asked)."""
        since = next((a for a in self.args if isinstance(a, int)), None)
        until = self.params.get("until")
        span = "" if since is None else f" {_iso(since)}" + (f"..{_iso(until)}" if until else "..")
        return f"{self.method} ({self.note}){span}"


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
        self.seen = False  # rows of this series seen (stored or fetched): empties are suspect
        self.empty_from: int | None = None  # start of the current run of empty windows
        self.new_gaps: list[tuple[int, int]] = []  # empty spans with data around them
        self.known_gaps: list[tuple[int, int]] = []  # recorded earlier (metadata)
        self.cached_index: pd.DatetimeIndex | None = None

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
        if self.new_gaps or self.opt.refetch_gaps:
            gaps = sorted(set(self.known_gaps) | set(self.new_gaps))
            out["exchange_gaps"] = [[_iso(lo), _iso(hi)] for lo, hi in gaps]
        if self.req.series in (Series.MARK, Series.INDEX):
            out["ccxt_price"] = self.req.series.value
        return out

    def _cache_span(self) -> tuple[int | None, int | None, int | None]:
        if not self.store.exists(self.key):
            return None, None, None
        frame, meta = self.store.read(self.key)
        self.known_gaps = [] if self.opt.refetch_gaps else _read_gaps(meta.get("exchange_gaps"))
        if self.opt.refetch_gaps and meta.get("exchange_gaps"):
            self.meta_dirty = True  # the record is rewritten with what this run finds
        if frame.empty:
            return None, None, None
        self.cached_index = frame.index
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

    def _candle_call(
        self, since: int, until: int | None, limit: int, note: str, expect: bool = False
    ) -> _Call:
        params: dict[str, Any] = {} if until is None else {"until": until}
        if self.req.series is Series.MARK:
            params["price"] = "mark"
        elif self.req.series is Series.INDEX:
            params["price"] = "index"
        tf = str(self.req.timeframe)
        return _Call("fetch_ohlcv", (self.req.symbol, tf, since, limit), params, note, expect)

    def _cache_holes(self, tf: int, lo: int, hi: int) -> list[tuple[int, int]]:
        """Spans of missing bars inside the cached rows (first and last missing open), within
        ``[lo, hi]``, less the spans recorded as the exchange's own gaps."""
        if self.cached_index is None or len(self.cached_index) < 2:
            return []
        out = []
        for gap in candle_gaps(self.cached_index, Timeframe.parse(str(self.req.timeframe))):
            g_lo, g_hi = max(_ms(gap.start), lo), min(_ms(gap.end) - tf, hi)
            if g_lo > g_hi:
                continue
            if any(k_lo <= g_lo and g_hi <= k_hi for k_lo, k_hi in self.known_gaps):
                continue
            out.append((g_lo, g_hi))
        return out

    def _took(self, rows: list[Any], wend: int, tf: int) -> int:
        """Keep a window's rows; return where the next request starts. A page that ends
        before its window (rows repeated inside a page make ccxt cut it short) continues
        right after its last row, so no bar at a window's end is lost."""
        opens = [int(r[0]) for r in rows]
        if self.empty_from is not None:
            self._record_gap(self.empty_from, min(opens) - tf)
        self.seen = True
        self._add_candles(rows)
        return max(opens) + tf if max(opens) < wend else wend + 1

    def _record_gap(self, lo: int, hi: int) -> None:
        self.empty_from = None
        if lo <= hi:
            self.new_gaps.append((lo, hi))
            self.meta_dirty = True

    def _candle_span(
        self, lo: int, hi: int, n: int, tf: int, note: str, data_after: bool
    ) -> Generator[_Call, list[Any], None]:
        """Fetch bars ``lo <= open <= hi`` window by window. Before the first row of a fresh
        download empty windows are stepped over (one probe without ``until`` jumps to the
        exchange's first rows, and tells a wrongly empty answer from real emptiness); after
        it an empty window is asked again (with backoff) and, if it stays empty while rows
        follow, is recorded as a gap of the exchange and reported."""
        now = self._now()
        probed = self.seen
        nothing_after = False  # a probe found no rows at all from here on
        reasks = 0
        cursor = lo
        while cursor <= hi:
            wend = min(cursor + n * tf - 1, hi)
            # rows are expected once the series has some, except in a window whose first bar
            # closed less than a bar ago (an exchange may publish the newest bar late)
            expect = self.seen and cursor + 2 * tf <= now
            rows = yield self._candle_call(cursor, wend, n, note, expect)
            rows = [r for r in rows if cursor <= r[0] <= wend and r[0] + tf <= now]
            self._window_done()
            if rows:
                oldest = min(int(r[0]) for r in rows)
                if expect and oldest > cursor:  # short at its old end: ask for the rest
                    yield from self._candle_span(cursor, oldest - tf, n, tf, note, True)
                cursor = self._took(rows, wend, tf)
                continue
            confirmed = expect or nothing_after
            if expect:
                if self.empty_from is None:
                    self.empty_from = cursor
            elif not probed:
                probed = True  # one request without until: the exchange's first rows from here
                probe = yield self._candle_call(cursor, None, n, "probe")
                opens = [int(r[0]) for r in probe]
                if any(cursor <= t <= wend for t in opens) and reasks < self.opt.retry.max_attempts:
                    reasks += 1  # the window was wrongly empty: ask it again
                    probed = False
                    continue
                # a probe answers with the exchange's oldest rows from here only without a
                # listing date (COIN-M pages from the newest end): only then may it jump
                oldest_first = self._created() is None
                nothing_after = oldest_first and not opens
                confirmed = oldest_first
                later = [t for t in opens if t > wend] if oldest_first else []
                if later:
                    cursor = _align_down(min(later), tf)
                    continue
            if not confirmed and not self.seen:
                # stepped over a window nobody vouched for: do not claim the span was searched
                self.covered_from = None
            cursor = wend + 1
        if self.empty_from is not None:
            if data_after:
                self._record_gap(self.empty_from, hi)
            self.empty_from = None

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

        fresh = first is None
        self.seen = not fresh
        # with a cache, continue right after it (a later start must not leave a hole)
        cursor = start if last is None else last + tf
        if fresh and created is not None:
            cursor = max(cursor, _align_up(created, tf))
        head_lo = start if created is None else max(start, _align_down(created, tf))
        need_head = first is not None and covered is not None and head_lo < min(first, covered)
        holes = self._cache_holes(tf, start, last_open)
        self.total_windows = max(0, math.ceil((last_open - cursor + tf) / (n * tf)))
        self.total_windows += sum(math.ceil((h - lo + tf) / (n * tf)) for lo, h in holes)
        if need_head:
            assert first is not None
            self.total_windows += math.ceil((first - head_lo) / (n * tf))
        if fresh:
            self.covered_from = start

        for lo, hi in holes:  # holes inside the cached span
            yield from self._candle_span(lo, hi, n, tf, "hole", data_after=True)
        yield from self._candle_span(cursor, last_open, n, tf, "tail", data_after=False)

        # head, newest window first
        if need_head:
            assert first is not None
            hi = first - tf
            while hi >= head_lo:
                wstart = max(head_lo, hi - (n - 1) * tf)
                rows = yield self._candle_call(wstart, hi, n, "head")
                rows = [r for r in rows if wstart <= r[0] <= hi and r[0] + tf <= now]
                self._window_done()
                if not rows:
                    break  # before the listing
                self._add_candles(rows)
                opens = [int(r[0]) for r in rows]
                if max(opens) < hi:  # the page ended early: fill up to the newer rows
                    yield from self._candle_span(max(opens) + tf, hi, n, tf, "head", True)
                # a full page may have been cut (repeated rows): the next window ends right
                # below its oldest row, so nothing is left behind; a page with room to spare
                # holds all the window has
                hi = min(opens) - tf if len(rows) >= n else wstart - tf
            self.covered_from = start
            self.meta_dirty = True  # record the searched span on the next flush
        self._raise_new_gaps()

    def _raise_new_gaps(self) -> None:
        """End the series with an error naming the spans the exchange left empty this run."""
        if self.new_gaps:
            spans = ", ".join(f"{_iso(lo)} .. {_iso(hi)}" for lo, hi in self.new_gaps)
            raise DownloadError(
                f"{self.label}: the exchange returned no rows for {spans} although it has data "
                f"before and after (asked {self.opt.retry.max_attempts} times); recorded as the "
                "exchange's gap in the file's metadata (exchange_gaps), not asked again"
            )

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

        def call(since: int, until: int | None, note: str, expect: bool = False) -> _Call:
            params = {} if until is None else {"until": until}
            return _Call(
                "fetch_funding_rate_history",
                (self.req.symbol, since, limit),
                params,
                note,
                expect,
            )

        while cursor <= end_incl:
            wend = min(cursor + span - 1, end_incl)
            # a listed perpetual pays funding at least daily: a day or more without an event,
            # once the series has rows, is asked again
            expect = seen and wend - cursor + 1 >= DAY_MS
            rows = yield call(cursor, wend, "tail", expect)
            rows = [r for r in rows if cursor <= r["timestamp"] <= wend]
            if rows:
                if self.empty_from is not None:
                    self._record_gap(self.empty_from, min(r["timestamp"] for r in rows) - 1)
                seen = True
                self._add_funding(rows)
                if len(rows) >= limit:  # full page: continue right after its last event
                    cursor = max(r["timestamp"] for r in rows) + 1
                    self._window_done()
                    continue
            elif expect and self.empty_from is None:
                self.empty_from = cursor
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
        self.empty_from = None  # empty windows at the end: no rows follow them
        self._raise_new_gaps()

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
        """Merge pending rows into the store under the series' lock (re-read, merge, one
        atomic write), so concurrent downloads of one series lose nothing. The metadata's
        ``first_row``/``last_row`` describe the rows actually stored."""
        self.pending_windows = 0
        if not self.pending and not (self.meta_dirty and self.store.exists(self.key)):
            return
        with series_lock(self.store.path(self.key)):
            before = self._stored_rows()
            if self.pending:
                new = pd.concat(self.pending)
                new = new[~new.index.duplicated(keep="last")].sort_index()
            else:
                new = self.store.read(self.key)[0].iloc[:0]
            meta = self.meta()
            if self.store.exists(self.key):
                old, old_meta = self.store.read(self.key)
                index = old.index.append(new.index)
                if self.new_gaps and not self.opt.refetch_gaps:
                    known = _read_gaps(old_meta.get("exchange_gaps"))
                    gaps = sorted(set(known) | set(self.new_gaps))
                    meta["exchange_gaps"] = [[_iso(lo), _iso(hi)] for lo, hi in gaps]
            else:
                index = new.index
            if len(index):
                meta["first_row"] = index.min().strftime("%Y-%m-%dT%H:%M:%SZ")
                meta["last_row"] = index.max().strftime("%Y-%m-%dT%H:%M:%SZ")
            self.path = str(self.store.merge_write(self.key, new, meta))
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

OFFLINE_HINT = (
    "the bundled sample data in data/ works offline: backtest run configs/eth_l1_basket.yaml"
)

# What went wrong underneath a ccxt NetworkError, read from its message and exception chain.
_CAUSES = (
    (
        re.compile(
            r"NameResolution|Name or service not known|Failed to resolve|getaddrinfo|"
            r"nodename nor servname|Temporary failure in name resolution|No address associated",
            re.I,
        ),
        "name resolution failed",
    ),
    (re.compile(r"Connection refused|Errno 111|ECONNREFUSED|Connect call failed", re.I),
     "connection refused"),
    (re.compile(r"SSL|TLS|CERTIFICATE", re.I), "TLS handshake failed"),
    (re.compile(r"Network is unreachable|No route to host|Errno 101|Errno 113", re.I),
     "network unreachable"),
    (re.compile(r"timed out|timeout|RequestTimeout", re.I), "timed out"),
    (re.compile(r"Connection reset|RemoteDisconnected|ServerDisconnected", re.I),
     "connection reset"),
)  # fmt: skip
_URL = re.compile(r"https?://[^\s/'\"]+")
_STATUS = re.compile(r"(?:^\S+| \S+://\S+) (\d{3}) [A-Z]")


class _GarbledPage(Exception):
    """A 200 answer that is no parseable page (truncated JSON, an HTML page, an empty body)."""


class _EmptyPage(Exception):
    """An empty window where the exchange has data before it (asked again before accepted)."""


def _chain_text(exc: BaseException) -> str:
    parts, seen, cur = [], set(), exc
    while cur is not None and id(cur) not in seen and len(parts) < 10:
        seen.add(id(cur))
        parts.append(f"{type(cur).__name__}: {cur}")
        cur = cur.__cause__ or cur.__context__
    return " | ".join(parts)


def network_cause(exc: BaseException) -> str | None:
    """The underlying cause of a network failure in plain words, or None if not recognised."""
    text = _chain_text(exc)
    for pattern, cause in _CAUSES:
        if pattern.search(text):
            return cause
    return None


def _host(exchange: Any, exc: BaseException | None = None) -> str:
    """The host a request went to: from the error's URL, else the exchange's first API URL."""
    match = _URL.search(str(exc)) if exc is not None else None
    if match is None:
        api = (getattr(exchange, "urls", None) or {}).get("api")
        urls = list(api.values()) if isinstance(api, dict) else [api]
        match = next((_URL.search(u) for u in urls if isinstance(u, str) and _URL.search(u)), None)
    return match.group(0).split("://", 1)[1] if match else str(getattr(exchange, "id", "?"))


def _reason(exc: BaseException) -> str:
    """Why one try failed, in one short phrase (error class, HTTP status, cause)."""
    if isinstance(exc, _GarbledPage | _EmptyPage):
        return str(exc)
    status = _STATUS.search(str(exc))
    cause = network_cause(exc) if isinstance(exc, ccxt.NetworkError) else None
    extra = [f"HTTP {status.group(1)}"] if status else []
    if cause and not status:
        extra.append(cause)
    return type(exc).__name__ + (f" ({', '.join(extra)})" if extra else "")


def _retry_after(exchange: Any, exc: BaseException) -> float | None:
    """Seconds from a Retry-After header of a 429/418 answer (ccxt keeps the last headers)."""
    if not isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return None
    headers = getattr(exchange, "last_response_headers", None) or {}
    value = next((v for k, v in dict(headers).items() if str(k).lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _check_page(exchange: Any, rows: Any, call: _Call) -> Any:
    """Raise :class:`_GarbledPage` when ccxt's empty answer came from an unparseable body,
    :class:`_EmptyPage` when an empty window is where rows are expected."""
    if isinstance(rows, list) and rows:
        return rows
    if not isinstance(rows, list):
        raise _GarbledPage(f"unexpected answer of type {type(rows).__name__}")
    body = getattr(exchange, "last_http_response", None)
    if isinstance(body, str | bytes):
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        if not text.strip():
            raise _GarbledPage("empty body")
        try:
            json.loads(text)
        except ValueError:
            kind = "HTML page" if text.lstrip().startswith("<") else "unparseable JSON"
            raise _GarbledPage(f"{kind} with status 200") from None
    if call.expect_rows:
        raise _EmptyPage("empty page inside the history")
    return rows


def _is_retryable(exc: BaseException) -> bool:
    """The ccxt NetworkError family, bare OperationFailed (e.g. Binance -1001 "Internal
    error; please try again") and garbled or empty pages; ExchangeError is permanent."""
    if isinstance(exc, ccxt.NetworkError | _GarbledPage | _EmptyPage):
        return True
    return type(exc) is ccxt.OperationFailed


def _attempts(n: int) -> str:
    return f"{n} attempt" + ("" if n == 1 else "s")


def _fatal(label: str, exc: BaseException) -> DownloadError:
    return DownloadError(f"{label}: {type(exc).__name__}: {exc}")


def unreachable_error(label: str, exchange: Any, attempts: int, exc: BaseException) -> str:
    """The one-line message for a request that never got through."""
    cause = network_cause(exc) or type(exc).__name__
    return (
        f"{label}: cannot reach {_host(exchange, exc)} ({cause}) after {_attempts(attempts)}; "
        f"check the network or raise --retries; {OFFLINE_HINT}"
    )


class _Attempts:
    """The retry bookkeeping of one request: decides the wait before the next try or gives
    up (attempts used up, or the wait would end past the budget), and reports each retry."""

    def __init__(self, exchange: Any, label: str, what: str, opt: DownloadOptions) -> None:
        self.exchange, self.label, self.what, self.opt = exchange, label, what, opt
        self.retry = opt.retry
        self.attempt = 0
        self.started = opt.clock()  # the budget counts from the first try

    def wait_after(self, exc: BaseException) -> float:
        """Seconds to sleep before the next try; raises :class:`DownloadError` to give up."""
        if not _is_retryable(exc):
            raise _fatal(self.label, exc) from None
        now = self.opt.clock()
        self.attempt += 1
        n, m = self.attempt, self.retry.max_attempts
        delay = self.retry.delay(n - 1)
        after = _retry_after(self.exchange, exc)
        if after is not None:
            delay = max(delay, min(after, self.retry.max_retry_after))
        over_budget = (now - self.started) + delay > self.retry.total() + 1e-9
        if n >= m or over_budget:
            raise self._give_up(exc, n, delay if n < m else None) from None
        note = f", Retry-After {after:g} s" if after is not None else ""
        self.opt.on_retry(
            f"retry: {self.label}: {self.what}: attempt {n} of {m} failed: "
            f"{_reason(exc)}{note}; next attempt in {delay:g} s"
        )
        return delay

    def _give_up(self, exc: BaseException, n: int, wait: float | None) -> DownloadError:
        why = (
            f" (waiting {wait:g} s more would pass the {self.retry.total():g} s retry budget)"
            if wait is not None
            else ""
        )
        if (
            isinstance(exc, ccxt.NetworkError)
            and not _STATUS.search(str(exc))
            and network_cause(exc) is not None
        ):
            return DownloadError(unreachable_error(self.label, self.exchange, n, exc))
        return DownloadError(
            f"{self.label}: {self.what}: gave up after {_attempts(n)}{why}: "
            f"{_reason(exc) if isinstance(exc, _GarbledPage | _EmptyPage) else type(exc).__name__}"
            f": {exc}"
        )


def _call_sync(exchange: Any, call: _Call, job: _Job, opt: DownloadOptions, sleep: SleepFn) -> Any:
    method = getattr(exchange, call.method)
    attempts = _Attempts(exchange, job.label, call.describe(), opt)
    while True:
        try:
            job.requests += 1
            return _check_page(exchange, method(*call.args, params=dict(call.params)), call)
        except (ccxt.BaseError, _GarbledPage) as exc:
            sleep(attempts.wait_after(exc))
        except _EmptyPage as exc:
            try:
                sleep(attempts.wait_after(exc))
            except DownloadError:
                return []  # still empty: the job decides what the empty span means


async def _call_async(
    exchange: Any, call: _Call, job: _Job, opt: DownloadOptions, sleep: SleepFn
) -> Any:
    method = getattr(exchange, call.method)
    attempts = _Attempts(exchange, job.label, call.describe(), opt)
    while True:
        try:
            job.requests += 1
            rows = await method(*call.args, params=dict(call.params))
            return _check_page(exchange, rows, call)
        except (ccxt.BaseError, _GarbledPage) as exc:
            waited = sleep(attempts.wait_after(exc))
        except _EmptyPage as exc:
            try:
                waited = sleep(attempts.wait_after(exc))
            except DownloadError:
                return []
        if inspect.isawaitable(waited):
            await waited


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


def _load_markets_sync(exchange: Any, opt: DownloadOptions, sleep: SleepFn) -> None:
    attempts = _Attempts(exchange, exchange.id, "loading markets", opt)
    while True:
        try:
            exchange.load_markets()
            return
        except ccxt.BaseError as exc:
            sleep(attempts.wait_after(exc))


async def _load_markets_async(exchange: Any, opt: DownloadOptions, sleep: SleepFn) -> None:
    attempts = _Attempts(exchange, exchange.id, "loading markets", opt)
    while True:
        try:
            await exchange.load_markets()
            return
        except ccxt.BaseError as exc:
            waited = sleep(attempts.wait_after(exc))
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
    _load_markets_sync(exchange, opt, sleep)
    job = _Job(exchange, store, request, opt)
    job.bind_market()
    gen = job.steps()
    bar = None
    try:
        call = next(gen)
        bar = _progress(job, opt, _position)
        while True:
            rows = _call_sync(exchange, call, job, opt, sleep)
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
    await _load_markets_async(exchange, opt, sleep)
    job = _Job(exchange, store, request, opt)
    job.bind_market()
    gen = job.steps()
    bar = None
    try:
        call = next(gen)
        bar = _progress(job, opt, _position)
        while True:
            rows = await _call_async(exchange, call, job, opt, sleep)
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
    await _load_markets_async(exchange, opt, sleep)
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
