"""Two processes downloading one series at once: writers take turns on the series' lock file,
re-read under it and merge, so neither loses the other's rows."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from fake_binance import DAY, HOUR, MINUTE, T0, FakeBinance

from perphedge.data.store import SeriesKey, Store, series_lock
from perphedge.domain import Series

SPOT_1H = SeriesKey("binance", "ETH/USDT", Series.OHLCV, "1h")
HERE = Path(__file__).parent

CHILD = textwrap.dedent(
    """
    import os, sys, time
    import ccxt
    from fake_binance import point_at
    from perphedge.data.download import DownloadOptions, SeriesRequest, download_series
    from perphedge.data.store import Store

    base_url, now_ms, root, start, end, go = sys.argv[1:7]
    ex = point_at(ccxt.binance({"enableRateLimit": False, "timeout": 5000}), base_url)
    ex.milliseconds = lambda: int(now_ms)
    ex.load_markets()
    print("ready", flush=True)
    while not os.path.exists(go):  # both processes start their windows together
        time.sleep(0.002)
    opts = DownloadOptions(progress=False, window_bars=24, flush_every=1)
    req = SeriesRequest.make("ETH/USDT", "ohlcv", "1h", int(start), int(end))
    res = download_series(ex, Store(root), req, opts)
    print(res.requests)
    """
)


def test_two_concurrent_downloads_of_one_series_lose_no_rows(tmp_path):
    now = T0 + 40 * DAY + 30 * MINUTE
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    with FakeBinance(now) as fake:
        go = tmp_path.parent / f"{tmp_path.name}-go"
        halves = [(T0, T0 + 20 * DAY), (T0 + 20 * DAY, T0 + 40 * DAY)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    fake.base_url,
                    str(now),
                    str(tmp_path),
                    str(lo),
                    str(hi),
                    str(go),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for lo, hi in halves
        ]
        for p in procs:  # wait for both interpreters to be ready, then start them together
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        go.touch()
        outs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        # 20 windows of one day each, whichever way (tail or head) each process went
        assert [int(out.strip()) for out, _ in outs] == [20, 20]
        assert len(fake.requests_to("/api/v3/klines")) == 40
    frame, meta = Store(tmp_path).read(SPOT_1H)
    assert len(frame) == 960 and frame.index.is_unique and frame.index.is_monotonic_increasing
    assert set(np.diff(frame.index.asi8)) == {HOUR * 1_000_000}
    assert meta["first_row"] == "2023-01-01T00:00:00Z"
    assert meta["last_row"] == "2023-02-09T23:00:00Z"


def test_series_lock_is_exclusive_and_released_when_the_holder_dies(tmp_path):
    target = tmp_path / "binance" / "spot" / "ETH_USDT-1h-ohlcv.parquet"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(
            """
            import sys, time
            from perphedge.data.store import series_lock
            with series_lock(sys.argv[1]):
                print("held", flush=True)
                time.sleep(60)
            """
        ), str(target)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        import fcntl

        lock_file = target.with_name(f".{target.name}.lock")
        fd = os.open(lock_file, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    began = time.monotonic()
    with series_lock(target) as path:  # the dead holder's lock is gone
        assert path == lock_file
    assert time.monotonic() - began < 1
    assert Store(tmp_path).keys() == [] and Store(tmp_path).unrecognised_files() == []
