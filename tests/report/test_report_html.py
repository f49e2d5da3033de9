"""report.html: one self-contained file with every section, every chart embedded, all text escaped."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
from report_synth import make_result

from perphedge.report import HtmlPage, render_charts, render_html

HOSTILE = "<script>alert(\"x\")</script> & 'q'"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    d = tmp_path_factory.mktemp("html")
    r = make_result(n_bars=24 * 30, liquidation_at=24 * 12 + 1, name=HOSTILE)
    r.meta["warnings"].append("<b>gap</b> in AVAX/USDT")
    charts = render_charts(r, d)
    out = render_html(r, charts, d / "report.html")
    return out.read_text(encoding="utf-8"), charts, r


def test_html_is_self_contained(page):
    text, charts, _ = page
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower()
    assert "<link" not in text.lower() and "@import" not in text
    hrefs = re.findall(r'href="([^"]*)"', text)
    assert hrefs and all(h.startswith("#") for h in hrefs)
    srcs = re.findall(r'src="([^"]*)"', text)
    assert len(srcs) == len(charts) == 5
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    # charts drew despite '<', '&' and quotes in their titles
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in charts.values())
    embedded = [base64.b64decode(s.split(",", 1)[1]) for s in srcs]
    assert embedded == [p.read_bytes() for p in charts.values()]


def test_html_escapes_hostile_text(page):
    text, _, _ = page
    assert "alert(" in text  # the name is there ...
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;" in text
    assert "<b>gap</b>" not in text and "&lt;b&gt;gap&lt;/b&gt; in AVAX/USDT" in text


def test_html_has_every_section_and_numbers(page):
    text, _, r = page
    for heading in (
        "Headline", "Charts", "Attribution", "Events", "Data used", "Warnings",
        "Counterfactual", "Resolved config",
    ):  # fmt: skip
        assert f">{heading}</h2>" in text, heading
    m = r.metrics
    expect_ret = f"{m['hedged_total_return'] * 100:,.2f}%"
    cls = "num neg" if expect_ret.startswith("-") else "num"
    assert f'<td class="{cls}">{expect_ret}</td>' in text
    assert '<td>Liquidations</td><td class="num">1</td>' in text
    assert "Binance spot ETH/USDT close stands in for the mark" in text
    assert "<td>binance/swap/ETH_USD_ETH-funding.parquet</td>" in text  # under data/
    assert "The unhedged side holds the same 10,000 USD fully in the basket." in text
    assert "symbol: ETH/USD:ETH" in text  # resolved config as YAML
    assert "fees.taker=0.0005" in text  # overrides
    assert '<td>liquidation</td><td class="num">1</td>' in text  # event counts by kind


def test_html_without_charts_has_no_images(tmp_path):
    r = make_result(n_bars=10)
    text = render_html(r, {}, tmp_path / "r.html").read_text()
    assert "<img" not in text and ">Charts</h2>" not in text


def test_page_builder_table_and_escaping(tmp_path):
    page = HtmlPage("Sweep <1>", "sub & title")
    page.heading("Results").table(
        ["a<b", "n"], [["x&y", "1.50%"], ["-", "$1,234.00"], ["z", "-$7.00"]]
    )
    page.heading("Results")  # same heading twice gets a distinct anchor
    page.bullets(["<i>"]).preformatted("k: <v>")
    text = page.render()
    assert "<title>Sweep &lt;1&gt;</title>" in text
    assert "<th>a&lt;b</th>" in text and "<td>x&amp;y</td>" in text
    assert '<td class="num">1.50%</td>' in text and '<td class="num">$1,234.00</td>' in text
    assert "<td>-</td>" in text and '<td class="num neg">-$7.00</td>' in text
    assert 'id="results"' in text and 'id="results-2"' in text
    assert "<li>&lt;i&gt;</li>" in text and "<pre>k: &lt;v&gt;</pre>" in text
    with pytest.raises(ValueError, match="heading level must be 2, 3 or 4, got 1"):
        page.heading("x", level=1)


def test_event_detail_reads_each_kind_of_ledger_row():
    from perphedge.report.html import event_detail

    rebalance = {"contracts": -57.0, "target_ratio": 1.0, "actual_ratio": 0.92191, "coins": -0.4}
    assert event_detail("rebalance", rebalance) == (
        "sold 57 contracts: ratio 0.922 before, target 1.000"
    )
    topup = {"contracts": -1110.0, "target_ratio": 3.0, "actual_ratio": 5.19564, "coins": 1.12538}
    assert event_detail("topup", topup) == (
        "added 1.12538 collateral coins: leverage 5.20x before, target 3.00x"
    )
    withdraw = {"contracts": -999.0, "target_ratio": 3.0, "actual_ratio": 1.4, "coins": -0.5}
    assert event_detail("withdraw", withdraw) == (
        "took out 0.5 collateral coins: leverage 1.40x before, target 3.00x"
    )
    liq = {"contracts": 999.0, "price": 2345.5, "coins": 0.02, "target_ratio": 1.0}
    assert event_detail("liquidation", liq) == "closed 999 contracts at 2,345.50; fee 0.02 coins"


def test_events_table_shows_bar_closes_and_no_overloaded_ratio_columns(page):
    text, _, r = page
    events = text.split('id="events"', 1)[1].split('id="data-used"', 1)[0]
    assert "<th>bar close (UTC)</th>" in events and "<th>what happened</th>" in events
    assert "target_ratio" not in events and "actual_ratio" not in events
    first = r.events[r.events["kind"] != "funding"].iloc[0]
    close = (first["time"] + pd.Timedelta("1h")).strftime("%Y-%m-%d %H:%M")
    assert f'<td class="nw">{close}</td>' in events


def test_ratio_caption_says_what_the_ratio_measures(tmp_path):
    r = make_result(n_bars=48)
    r.meta["resolved_config"]["hedge"]["sizing"] = "delta_neutral"
    text = render_html(r, {}, tmp_path / "a.html").read_text()
    assert "hedge&#x27;s net short USD delta / basket value" not in text  # no charts, no caption
    charts = render_charts(r, tmp_path)
    text = render_html(r, charts, tmp_path / "b.html").read_text()
    assert "Ratio = hedge&#x27;s net short USD delta / basket value (the short&#x27;s" in text
    r.meta["resolved_config"]["hedge"]["sizing"] = "basket_only"
    text = render_html(r, charts, tmp_path / "c.html").read_text()
    assert "Ratio = short notional / basket value.</figcaption>" in text


def test_data_used_paths_are_shown_inside_the_store(page):
    text, _, _ = page
    used = text.split('id="data-used"', 1)[1]
    assert "Files under data/ (the data store)" in used
    assert "<td>binance/spot/SOL_USDT-1h-ohlcv.parquet</td>" in used
    assert '<table class="wrap">' in used


def test_the_same_gap_in_several_series_is_one_note_and_one_warning(tmp_path):
    r = make_result(n_bars=48)
    gap = "carried the last close forward over 1 missing bar(s): 2023-03-24 13:00 UTC"
    lines = [f"binance {c}/USDT ohlcv 1h: {gap}" for c in ("SOL", "AVAX")]
    r.meta["notes"] = list(lines)
    r.meta["warnings"] = list(lines)
    text = render_html(r, {}, tmp_path / "r.html").read_text()
    assert text.count(f"<li>binance SOL/USDT, AVAX/USDT ohlcv 1h: {gap}</li>") == 2
    assert f"binance AVAX/USDT ohlcv 1h: {gap}" not in text
