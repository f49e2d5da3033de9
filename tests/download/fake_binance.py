"""A loopback fake of the public Binance REST endpoints the downloader uses.

Serves spot ``/api/v3/klines`` and ``/api/v3/exchangeInfo``, COIN-M ``/dapi/v1/klines``,
``/dapi/v1/markPriceKlines``, ``/dapi/v1/indexPriceKlines`` (by ``pair``),
``/dapi/v1/fundingRate`` and ``/dapi/v1/exchangeInfo`` on ``127.0.0.1`` (port 0, one thread),
with Binance's response shapes (klines as 12-element arrays of strings and ints, errors as
``{"code": -1121, "msg": "Invalid symbol."}`` with HTTP 400) and its documented paging rules:

- spot klines: ``limit`` default 500, max 1000; with ``startTime`` the oldest ``limit`` bars from
  it are returned; with only ``endTime`` the newest before it; the still-open bar is included.
- COIN-M klines (also mark and index): ``limit`` default 500, max 1500; ``endTime - startTime``
  at most 200 days (else error -1127); a missing end is ``startTime + 200 days`` (at most now), a
  missing start is ``endTime - 200 days``; the NEWEST ``limit`` bars of the range are returned.
- COIN-M funding: ``limit`` default 100, max 1000; ascending; when the range holds more than
  ``limit`` events the first ``limit`` from ``startTime`` are returned.

Prices come from a fixture series that is linear in time so tests can work values out by
hand: the spot open of the bar starting ``h`` hours after 2023-01-01 00:00 UTC is
``1000 + 0.5 h``; mark is spot + 1, index is spot - 1, close is the next bar's open, high/low are
0.25 above/below the larger/smaller of open and close. Funding events are every 8 h from the
listing, every 4 h from ``funding_switch_ms``; the rate of the k-th event is ``0.0001 * (1 + k % 3)``.

Every request is logged (path and query) so tests can count them; faults can be injected per
path (HTTP 429/418/503, a stalled response that makes the client time out, Binance errors).
All loops are bounded by the request's ``limit``, the request count is capped and the server
stops itself when the context manager exits.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
T0 = 1_672_531_200_000  # 2023-01-01T00:00:00Z, origin of the fixture price series
MAX_SPAN_COINM = 200 * DAY
INTERVALS = {
    "1m": MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "1h": HOUR,
    "4h": 4 * HOUR,
    "8h": 8 * HOUR,
    "1d": DAY,
}


def spot_open(t_ms: int) -> float:
    """Fixture spot price at ``t_ms``: 1000 + 0.5 per hour since 2023-01-01 (exact in binary
    for whole hours)."""
    return 1000.0 + 0.5 * (t_ms - T0) / HOUR


def series_offset(kind: str) -> float:
    return {"spot": 0.0, "last": 0.0, "mark": 1.0, "index": -1.0}[kind]


def bar_values(kind: str, t_ms: int, tf_ms: int) -> tuple[float, float, float, float]:
    """(open, high, low, close) of the fixture bar of ``kind`` opening at ``t_ms``."""
    o = spot_open(t_ms) + series_offset(kind)
    c = spot_open(t_ms + tf_ms) + series_offset(kind)
    return o, max(o, c) + 0.25, min(o, c) - 0.25, c


def funding_rate(k: int) -> float:
    return 0.0001 * (1 + k % 3)


def _fmt(x: float, digits: int = 8) -> str:
    return f"{x:.{digits}f}"


@dataclass
class Fault:
    """An injected failure: the next ``times`` requests whose path ends with ``path`` (and for
    which ``when(query)`` is true) get ``kind`` instead of the normal answer."""

    path: str
    # "429" | "429:<seconds>" | "418" | "503" | "timeout" | "-1121" | "-1100" (error answers);
    # "truncated" | "html200" | "empty" | "dup" (status 200, the real body damaged)
    kind: str
    times: int = 1
    when: Callable[[dict[str, str]], bool] = field(default=lambda q: True)


@dataclass(frozen=True)
class Logged:
    path: str
    query: dict[str, str]
    answered: str  # "ok" or the fault kind or "error"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeBinance:
    """The fake exchange: state, request log, faults, and the HTTP server around them.

    ``now_ms`` is the exchange clock; tests pin the ccxt client's ``milliseconds`` to the same
    value (and may move both forward between runs).
    """

    def __init__(
        self,
        now_ms: int,
        *,
        spot_listing: dict[str, int] | None = None,
        perp_listing: dict[str, int] | None = None,
        listed_but_no_klines: tuple[str, ...] = ("LUNAUSDT",),
        funding_switch_ms: int | None = None,
        timeout_stall_s: float = 1.0,
        max_requests: int = 3000,
    ) -> None:
        self.now_ms = now_ms
        self.spot_listing = dict(spot_listing or {"ETHUSDT": T0})
        self.perp_listing = dict(perp_listing or {"ETHUSD_PERP": T0})
        self.listed_but_no_klines = listed_but_no_klines
        self.funding_switch_ms = funding_switch_ms
        self.timeout_stall_s = timeout_stall_s
        self.max_requests = max_requests
        self.log: list[Logged] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> FakeBinance:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        server = _Server(("127.0.0.1", 0), _make_handler(self))
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # wakes stalled ("timeout") handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def point(self, exchange: Any) -> Any:
        """Point every ``urls['api']`` entry of a ccxt binance client at this server (same
        paths), load no market types but spot and COIN-M, and keep the client off any proxy."""
        return point_at(exchange, self.base_url)

    # ----------------------------------------------------------------- helpers for tests
    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def requests_to(self, path_suffix: str, answered: str | None = "ok") -> list[Logged]:
        with self._lock:
            return [
                r
                for r in self.log
                if r.path.endswith(path_suffix) and (answered is None or r.answered == answered)
            ]

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    # ----------------------------------------------------------------- request handling
    def _take_fault(self, path: str, query: dict[str, str]) -> str | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and path.endswith(fault.path) and fault.when(query):
                    fault.times -= 1
                    return fault.kind
        return None

    def handle(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        """Return (status, json body or raw text, extra headers)."""
        with self._lock:
            too_many = len(self.log) >= self.max_requests
        if too_many:
            self._record(path, query, "error")
            return 400, {"code": -1, "msg": "fake server: request cap reached"}, {}
        kind = self._take_fault(path, query)
        if kind is not None and kind not in _BODY_FAULTS:
            self._record(path, query, kind)
            return self._fault_response(kind)
        try:
            body = self._route(path, query)
        except _ApiError as err:
            self._record(path, query, "error")
            return err.status, {"code": err.code, "msg": err.msg}, {}
        if kind is not None:  # a fault that garbles the real answer
            self._record(path, query, kind)
            return 200, _garble(kind, body), {}
        self._record(path, query, "ok")
        return 200, body, {}

    def _record(self, path: str, query: dict[str, str], answered: str) -> None:
        with self._lock:
            self.log.append(Logged(path, dict(query), answered))

    def _fault_response(self, kind: str) -> tuple[int, Any, dict[str, str]]:
        if kind == "429":
            msg = "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute."
            return 429, {"code": -1003, "msg": msg}, {"Retry-After": "1"}
        if kind == "418":
            msg = f"Way too many requests; IP(127.0.0.1) banned until {self.now_ms + 60_000}."
            return 418, {"code": -1003, "msg": msg}, {"Retry-After": "60"}
        if kind.startswith("429:"):  # 429 with a chosen Retry-After (seconds)
            msg = "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute."
            return 429, {"code": -1003, "msg": msg}, {"Retry-After": kind[4:]}
        if kind == "503":
            return 503, "<html><body><h1>503 Service Unavailable</h1></body></html>", {}
        if kind == "timeout":
            self._stop.wait(self.timeout_stall_s)  # bounded stall; the client gives up first
            return 200, [], {}
        if kind == "-1121":
            return 400, {"code": -1121, "msg": "Invalid symbol."}, {}
        if kind == "-1100":
            msg = "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9_]{1,20}$'."
            return 400, {"code": -1100, "msg": msg}, {}
        raise ValueError(f"unknown fault kind {kind!r}")

    def _route(self, path: str, q: dict[str, str]) -> Any:
        routes: dict[str, Callable[[dict[str, str]], Any]] = {
            "/api/v3/klines": self._spot_klines,
            "/api/v3/exchangeInfo": lambda q: self._spot_exchange_info(),
            "/api/v3/time": lambda q: {"serverTime": self.now_ms},
            "/dapi/v1/klines": lambda q: self._coinm_klines(q, "last"),
            "/dapi/v1/markPriceKlines": lambda q: self._coinm_klines(q, "mark"),
            "/dapi/v1/indexPriceKlines": lambda q: self._coinm_klines(q, "index"),
            "/dapi/v1/fundingRate": self._coinm_funding,
            "/dapi/v1/exchangeInfo": lambda q: self._coinm_exchange_info(),
            "/dapi/v1/time": lambda q: {"serverTime": self.now_ms},
        }
        handler = routes.get(path)
        if handler is None:
            raise _ApiError(404, -1, f"fake server: no route {path}")
        return handler(q)

    # ----------------------------------------------------------------- klines
    @staticmethod
    def _int(q: dict[str, str], name: str) -> int | None:
        if name not in q:
            return None
        text = q[name]
        if not text.lstrip("-").isdigit():
            raise _ApiError(400, -1100, f"Illegal characters found in parameter '{name}'.")
        return int(text)

    @staticmethod
    def _mandatory(q: dict[str, str], name: str) -> str:
        if not q.get(name):
            raise _ApiError(
                400,
                -1102,
                f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
            )
        return q[name]

    def _interval(self, q: dict[str, str]) -> int:
        interval = self._mandatory(q, "interval")
        if interval not in INTERVALS:
            raise _ApiError(400, -1120, "Invalid interval.")
        return INTERVALS[interval]

    def _limit(self, q: dict[str, str], default: int, maximum: int) -> int:
        limit = self._int(q, "limit")
        if limit is None:
            return default
        if limit <= 0 or limit > maximum:
            raise _ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        return limit

    def _bar_opens(self, listing: int, tf: int, lo: int, hi: int) -> range:
        """Opens of bars that exist (listed, already opened) with ``lo <= open <= hi``."""
        first = -(-max(listing, lo) // tf) * tf
        last_existing = (self.now_ms // tf) * tf  # the still-open bar exists too
        last = min(hi, last_existing)
        last = (last // tf) * tf
        return range(first, last + 1, tf) if last >= first else range(0)

    def _spot_klines(self, q: dict[str, str]) -> list[list[Any]]:
        symbol = self._mandatory(q, "symbol")
        tf = self._interval(q)
        if symbol not in self.spot_listing:
            raise _ApiError(400, -1121, "Invalid symbol.")
        limit = self._limit(q, 500, 1000)
        start, end = self._int(q, "startTime"), self._int(q, "endTime")
        opens = self._bar_opens(self.spot_listing[symbol], tf, start or 0, end or self.now_ms)
        chosen = opens[:limit] if start is not None else opens[-limit:]
        return [self._kline_row("spot", t, tf, inverse=False) for t in chosen]

    def _coinm_klines(self, q: dict[str, str], kind: str) -> list[list[Any]]:
        tf = self._interval(q)
        if kind == "index":
            pair = self._mandatory(q, "pair")
            listing = next(
                (ms for sym, ms in self.perp_listing.items() if sym.split("_")[0] == pair), None
            )
        else:
            listing = self.perp_listing.get(self._mandatory(q, "symbol"))
        if listing is None:
            raise _ApiError(400, -1121, "Invalid symbol.")
        limit = self._limit(q, 500, 1500)
        start, end = self._int(q, "startTime"), self._int(q, "endTime")
        if start is not None and end is not None:
            if end - start > MAX_SPAN_COINM:
                raise _ApiError(400, -1127, "More than 4800 hours between startTime and endTime.")
        elif start is not None:
            end = min(start + MAX_SPAN_COINM, self.now_ms)
        elif end is not None:
            start = end - MAX_SPAN_COINM
        else:
            end = self.now_ms
            start = end - MAX_SPAN_COINM
        opens = self._bar_opens(listing, tf, start, end)
        return [self._kline_row(kind, t, tf, inverse=True) for t in opens[-limit:]]

    def _kline_row(self, kind: str, t: int, tf: int, *, inverse: bool) -> list[Any]:
        o, h, lo, c = bar_values(kind, t, tf)
        if t + tf > self.now_ms:  # still open: the close is the latest price
            c = spot_open(self.now_ms) + series_offset(kind)
            h, lo = max(o, c) + 0.25, min(o, c) - 0.25
        n = ((t - T0) // tf) % 7  # bars since 2023-01-01, mod 7
        if kind in ("mark", "index"):
            # markPriceKlines / indexPriceKlines: volumes are "0" ("ignore" fields)
            return [t, _fmt(o), _fmt(h), _fmt(lo), _fmt(c), "0", t + tf - 1, "0", 60, "0", "0", "0"]
        if inverse:
            contracts = 100.0 + n  # volume in contracts; index 7 is the base-asset volume
            base = contracts * 10.0 / c
            return [
                t, _fmt(o, 2), _fmt(h, 2), _fmt(lo, 2), _fmt(c, 2), _fmt(contracts, 0),
                t + tf - 1, _fmt(base), 50 + n, _fmt(contracts / 2, 0), _fmt(base / 2), "0",
            ]  # fmt: skip
        volume = 10.0 + n
        return [
            t, _fmt(o), _fmt(h), _fmt(lo), _fmt(c), _fmt(volume), t + tf - 1,
            _fmt(volume * c), 40 + n, _fmt(volume / 2), _fmt(volume * c / 2), "0",
        ]  # fmt: skip

    # ----------------------------------------------------------------- funding
    def funding_times(self, symbol: str) -> list[int]:
        """Every funding event of ``symbol`` up to now (bounded by the clock)."""
        listing = self.perp_listing[symbol]
        t = -(-listing // (8 * HOUR)) * (8 * HOUR)
        out: list[int] = []
        while t <= self.now_ms and len(out) < 100_000:
            out.append(t)
            switched = self.funding_switch_ms is not None and t >= self.funding_switch_ms
            t += 4 * HOUR if switched else 8 * HOUR
        return out

    def _coinm_funding(self, q: dict[str, str]) -> list[dict[str, Any]]:
        symbol = self._mandatory(q, "symbol")
        if symbol not in self.perp_listing:
            raise _ApiError(400, -1121, "Invalid symbol.")
        limit = self._limit(q, 100, 1000)
        start, end = self._int(q, "startTime"), self._int(q, "endTime")
        events = list(enumerate(self.funding_times(symbol)))
        if start is None and end is None:
            chosen = events[-limit:]
        else:
            lo = start if start is not None else 0
            hi = end if end is not None else self.now_ms
            chosen = [(k, t) for k, t in events if lo <= t <= hi]
            chosen = chosen[:limit] if start is not None else chosen[-limit:]
        return [
            {"symbol": symbol, "fundingTime": t, "fundingRate": _fmt(funding_rate(k))}
            for k, t in chosen
        ]

    # ----------------------------------------------------------------- exchangeInfo
    def _rate_limits(self) -> list[dict[str, Any]]:
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        ]

    def _spot_exchange_info(self) -> dict[str, Any]:
        symbols = []
        for sym in [*self.spot_listing, *self.listed_but_no_klines]:
            base, quote = sym[:-4], sym[-4:]
            symbols.append(
                {
                    "symbol": sym,
                    "status": "TRADING",
                    "baseAsset": base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT"],
                    "icebergAllowed": True,
                    "ocoAllowed": True,
                    "quoteOrderQtyMarketAllowed": True,
                    "allowTrailingStop": True,
                    "cancelReplaceAllowed": True,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": True,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": "0.01000000",
                            "maxPrice": "1000000.00000000",
                            "tickSize": "0.01000000",
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": "0.00010000",
                            "maxQty": "9000.00000000",
                            "stepSize": "0.00010000",
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": "5.00000000",
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00000000",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],  # fmt: skip
                    "permissions": [],
                    "permissionSets": [["SPOT", "MARGIN"]],
                    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                    "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms,
            "rateLimits": self._rate_limits(),
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def _coinm_exchange_info(self) -> dict[str, Any]:
        symbols = []
        for sym, listing in self.perp_listing.items():
            pair = sym.split("_")[0]
            base = pair[:-3]
            symbols.append(
                {
                    "symbol": sym,
                    "pair": pair,
                    "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": listing,
                    "contractStatus": "TRADING",
                    "contractSize": 100 if base == "BTC" else 10,
                    "marginAsset": base,
                    "maintMarginPercent": "2.5000",
                    "requiredMarginPercent": "5.0000",
                    "baseAsset": base,
                    "quoteAsset": "USD",
                    "pricePrecision": 2,
                    "quantityPrecision": 0,
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "equalQtyPrecision": 4,
                    "maxMoveOrderLimit": 10000,
                    "triggerProtect": "0.0500",
                    "underlyingType": "COIN",
                    "underlyingSubType": [],
                    "liquidationFee": "0.015000",
                    "marketTakeBound": "0.05",
                    "filters": [
                        {
                            "minPrice": "0.01",
                            "maxPrice": "100000",
                            "filterType": "PRICE_FILTER",
                            "tickSize": "0.01",
                        },
                        {
                            "stepSize": "1",
                            "filterType": "LOT_SIZE",
                            "maxQty": "1000000",
                            "minQty": "1",
                        },
                        {
                            "stepSize": "1",
                            "filterType": "MARKET_LOT_SIZE",
                            "maxQty": "10000",
                            "minQty": "1",
                        },
                        {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
                        {
                            "multiplierDown": "0.9500",
                            "multiplierUp": "1.0500",
                            "multiplierDecimal": "4",
                            "filterType": "PERCENT_PRICE",
                        },
                    ],  # fmt: skip
                    "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT"],
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms,
            "rateLimits": self._rate_limits(),
            "exchangeFilters": [],
            "symbols": symbols,
        }


# Faults that answer 200 with a damaged copy of the real body (see ``_garble``).
_BODY_FAULTS = ("truncated", "html200", "empty", "dup")


def _garble(kind: str, body: Any) -> Any:
    """The real answer damaged: cut mid-JSON, an HTML page, an empty list, or rows repeated
    (the first three rows twice each, the page then cut back to its length, as a server that
    repeats rows and honours ``limit`` would)."""
    if kind == "truncated":
        return json.dumps(body)[: max(1, len(json.dumps(body)) // 2)]
    if kind == "html200":
        return "<html><head><title>Maintenance</title></head><body>back soon</body></html>"
    if kind == "empty":
        return []
    rows = list(body)
    repeated = [row for row in rows[:3] for _ in (0, 1)] + rows[3:]
    return repeated[: len(rows)]


class _ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _make_handler(fake: FakeBinance) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            status, body, headers = fake.handle(parts.path, query)
            raw = (body if isinstance(body, str) else json.dumps(body)).encode()
            html = isinstance(body, str) and body.startswith("<")
            ctype = "text/html" if html else "application/json"
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and went away

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output quiet

    return Handler


def point_at(exchange: Any, base_url: str) -> Any:
    """:meth:`FakeBinance.point` by URL (for a client built in another process)."""
    api = exchange.urls["api"]
    for name, url in list(api.items()):
        if isinstance(url, str):
            api[name] = base_url + urlsplit(url).path
    exchange.options["fetchMarkets"] = {"types": ["spot", "inverse"]}
    exchange.options["fetchMargins"] = False
    session = getattr(exchange, "session", None)
    if session is not None and hasattr(session, "trust_env"):
        session.trust_env = False  # requests: ignore *_PROXY variables
    return exchange


def sync_client(fake: FakeBinance, cls_name: str = "binance", timeout_ms: int = 2000) -> Any:
    """A real sync ccxt client pointed at ``fake``, with its clock pinned to ``fake.now_ms``."""
    import ccxt

    exchange = getattr(ccxt, cls_name)(
        {"enableRateLimit": True, "rateLimit": 1, "timeout": timeout_ms}
    )
    fake.point(exchange)
    exchange.milliseconds = lambda: fake.now_ms
    return exchange


def async_client(fake: FakeBinance, cls_name: str = "binance", timeout_ms: int = 2000) -> Any:
    """The same with ``ccxt.async_support`` (create it inside the running event loop)."""
    import ccxt.async_support as ccxt_async

    exchange = getattr(ccxt_async, cls_name)(
        {"enableRateLimit": True, "rateLimit": 1, "timeout": timeout_ms}
    )
    fake.point(exchange)
    exchange.milliseconds = lambda: fake.now_ms
    return exchange
