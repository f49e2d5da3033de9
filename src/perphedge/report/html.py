"""Self-contained HTML pages: a small page builder, and the run's report.html.

Every page is one file: inline CSS, PNG charts embedded as base64 data URIs, no scripts and no
external links, so it can be mailed or archived and opened offline. All text goes through
:func:`html.escape`; the builder has no way to insert unescaped markup from callers.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from perphedge.engine.types import Result
from perphedge.report.access import (
    all_notes,
    hedge_sizing,
    plain,
    ratio_definition,
    run_title,
)
from perphedge.report.fmt import (
    ATTRIBUTION_LABELS,
    HEDGE_METRICS,
    SIDE_METRICS,
    fmt_metric,
    fmt_usd,
    fmt_value,
)
from perphedge.report.plain import to_plain
from perphedge.report.summary import group_warnings

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1d2733;
background:#f6f7f9;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:18px 28px 60px;background:#fff}
h1{font-size:1.6em;margin:.4em 0 .1em}h2{font-size:1.25em;margin:1.6em 0 .5em;
border-bottom:2px solid #e3e7ec;padding-bottom:.2em}h3{font-size:1.05em;margin:1.2em 0 .4em}
p.sub{color:#5b6675;margin:.1em 0 .8em}
nav{font-size:.9em;margin:.6em 0 1em}nav a{margin-right:1em;color:#1f5fa8;text-decoration:none}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.92em}
th,td{padding:4px 12px;border-bottom:1px solid #e3e7ec;text-align:left;vertical-align:top}
th{background:#f0f3f6;font-weight:600}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums;white-space:nowrap}
tr:hover td{background:#fafbfc}
table.wrap{width:100%}table.wrap td{overflow-wrap:anywhere}td.nw{white-space:nowrap}
figure{margin:1em 0 1.6em}figure img{max-width:100%;height:auto;border:1px solid #e3e7ec}
figcaption{color:#5b6675;font-size:.9em}
pre{background:#f6f8fa;border:1px solid #e3e7ec;padding:10px 14px;overflow:auto;font-size:.85em}
ul.warn li{color:#8a4b08}.muted{color:#5b6675}.neg{color:#b03a2e}.pos{color:#1e7a46}
"""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$")
_NUMERIC = re.compile(r"^[-+$]*[\d,.]+(%| d| USD|x)?$|^n/a$|^-?\$[\d,.]+$")


def esc(text: object) -> str:
    """HTML-escaped text of any value (quotes too, so it is safe inside attributes)."""
    return html.escape(str(text), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


class HtmlPage:
    """Builds one self-contained page from headings, text, tables, images and preformatted text.

    Sections added with :meth:`heading` at level 2 get an anchor and an entry in the page's
    navigation bar. Call :meth:`render` for the text or :meth:`write` to save it.
    """

    def __init__(self, title: str, subtitle: str | None = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self._parts: list[str] = []
        self._nav: list[tuple[str, str]] = []

    def heading(self, text: str, level: int = 2) -> HtmlPage:
        if level not in (2, 3, 4):
            raise ValueError(f"heading level must be 2, 3 or 4, got {level}")
        anchor = _slug(text)
        if level == 2:
            used = {a for a, _ in self._nav}
            base, k = anchor, 2
            while anchor in used:
                anchor, k = f"{base}-{k}", k + 1
            self._nav.append((anchor, text))
        self._parts.append(f'<h{level} id="{esc(anchor)}">{esc(text)}</h{level}>')
        return self

    def paragraph(self, text: str, *, muted: bool = False) -> HtmlPage:
        cls = ' class="muted"' if muted else ""
        self._parts.append(f"<p{cls}>{esc(text)}</p>")
        return self

    def bullets(self, items: Sequence[object], *, warn: bool = False) -> HtmlPage:
        cls = ' class="warn"' if warn else ""
        lis = "".join(f"<li>{esc(i)}</li>" for i in items)
        self._parts.append(f"<ul{cls}>{lis}</ul>")
        return self

    def table(
        self,
        header: Sequence[object],
        rows: Sequence[Sequence[object]],
        *,
        caption: str | None = None,
        wrap: bool = False,
    ) -> HtmlPage:
        """A table of already formatted cells; cells that look numeric are right-aligned.

        ``wrap``: long text cells (paths, provenance) break anywhere so the table stays within
        the page width.
        """
        cap = f"<caption>{esc(caption)}</caption>" if caption else ""
        ths = "".join(f"<th{_num_cls(h, header=True)}>{esc(h)}</th>" for h in header)
        body = []
        for r in rows:
            tds = "".join(f"<td{_num_cls(c)}>{esc(c)}</td>" for c in r)
            body.append(f"<tr>{tds}</tr>")
        cls = ' class="wrap"' if wrap else ""
        self._parts.append(
            f"<table{cls}>{cap}<thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )
        return self

    def frame(
        self, df: pd.DataFrame, *, max_rows: int | None = None, index: bool = False
    ) -> HtmlPage:
        """A DataFrame as a table (generic cell formatting), at most ``max_rows`` rows."""
        shown = df if max_rows is None else df.head(max_rows)
        if index:
            shown = shown.reset_index()
        header = [str(c) for c in shown.columns]
        columns = [_format_column(shown[c]) for c in shown.columns]
        rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
        self.table(header, rows)
        if max_rows is not None and len(df) > max_rows:
            self.paragraph(f"First {max_rows} of {len(df)} rows.", muted=True)
        return self

    def image(self, png: Path | bytes, alt: str, caption: str | None = None) -> HtmlPage:
        """Embed a PNG (path or bytes) as a base64 data URI."""
        data = png if isinstance(png, bytes) else Path(png).read_bytes()
        b64 = base64.b64encode(data).decode("ascii")
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        self._parts.append(
            f'<figure><img src="data:image/png;base64,{b64}" alt="{esc(alt)}">{cap}</figure>'
        )
        return self

    def preformatted(self, text: str) -> HtmlPage:
        self._parts.append(f"<pre>{esc(text)}</pre>")
        return self

    def render(self) -> str:
        nav = ""
        if len(self._nav) > 1:
            links = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in self._nav)
            nav = f"<nav>{links}</nav>"
        sub = f'<p class="sub">{esc(self.subtitle)}</p>' if self.subtitle else ""
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(self.title)}</title><style>{CSS}</style></head>\n"
            f"<body><main><h1>{esc(self.title)}</h1>{sub}{nav}\n"
            + "\n".join(self._parts)
            + "\n</main></body></html>\n"
        )

    def write(self, path: Path | str) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.render(), encoding="utf-8")
        return out


def _num_cls(cell: object, *, header: bool = False) -> str:
    """Right-align numeric cells; negative numbers also get the 'neg' colour; dates never
    break across lines."""
    text = str(cell).strip()
    if not header and _DATE.match(text):
        return ' class="nw"'
    if header or not _NUMERIC.match(text):
        return ""
    return ' class="num neg"' if text.startswith("-") and len(text) > 1 else ' class="num"'


def _short_hash(value: object) -> str:
    """Long hex digests shortened for tables (the full value is in metrics.json)."""
    text = str(value)
    return text[:12] + "…" if len(text) > 16 and re.fullmatch(r"[0-9a-f]+", text) else text


def _format_column(col: pd.Series) -> list[str]:
    """Cells of one column; float columns get one number of decimals for the whole column
    (about 6 significant digits of its largest value, 2 to 8 decimals)."""
    if pd.api.types.is_float_dtype(col.dtype):
        vals = col.to_numpy(dtype=float)
        finite = np.abs(vals[np.isfinite(vals)])
        top = float(finite.max()) if finite.size else 0.0
        if finite.size and np.all(finite == np.round(finite)):
            decimals = 0  # whole numbers (contract counts, legs) stored as floats
        else:
            decimals = 2 if top == 0 else int(np.clip(5 - np.floor(np.log10(top)), 2, 8))
        return [fmt_value(v) if not np.isfinite(v) else f"{v:,.{decimals}f}" for v in vals]
    return [_cell(v) for v in col.to_list()]


def _store_root(paths: Sequence[str]) -> str | None:
    """The store folder of data files laid out as <root>/<exchange>/<spot|swap>/<file>."""
    roots = set()
    for path in paths:
        parts = path.replace("\\", "/").split("/")
        if len(parts) < 4 or parts[-2] not in ("spot", "swap"):
            return None
        roots.add("/".join(parts[:-3]))
    return roots.pop() if len(roots) == 1 else None


def _source_cell(column: str, value: object) -> str:
    """A cell of the data-used table: times as 'YYYY-MM-DD HH:MM UTC', digests shortened."""
    if column in ("first", "last") and isinstance(value, str):
        try:
            ts = pd.Timestamp(value)
        except ValueError:
            return value
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return ts.strftime("%Y-%m-%d %H:%M")
    return _short_hash(_cell(value))


def _cell(v: object) -> str:
    v = plain(v)
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M")
    return fmt_value(v)


# ---------------------------------------------------------------------------------------------
# report.html of one run

CHART_CAPTIONS: dict[str, str] = {
    "equity": "Hedged vs unhedged equity in USD; drawdowns from the running peak beneath.",
    "hedge_ratio": "Target hedge ratio (policy decision) vs the actual ratio between rebalances.",
    "margin": "Margin leverage, margin ratio (liquidation at 1) and distance from mark to the "
    "liquidation price; top-ups, withdrawals and liquidations marked.",
    "costs": "Cumulative funding (+ received by the short), fees and slippage, in USD.",
    "attribution": "Change in hedged equity split into its sources (USD); the parts sum to the "
    "total.",
}
EVENTS_SHOWN = 50


def chart_caption(name: str, result: Result) -> str | None:
    """The caption under a chart in report.html; the ratio chart says what its ratio measures."""
    caption = CHART_CAPTIONS.get(name)
    if name == "hedge_ratio" and caption:
        caption += f" Ratio = {ratio_definition(result)}"
        if hedge_sizing(result) == "delta_neutral":
            caption += (
                " (the short's notional less the USD value of the coins posted as its collateral,"
                " which are themselves a long; docs/engine.md)"
            )
        caption += "."
    return caption


def _headline(page: HtmlPage, m: Mapping[str, object]) -> None:
    rows = []
    for suffix, label in SIDE_METRICS:
        hk, uk = f"hedged_{suffix}", f"unhedged_{suffix}"
        rows.append([label, fmt_metric(hk, m.get(hk)), fmt_metric(uk, m.get(uk))])
    page.table(["Metric", "Hedged", "Unhedged"], rows)
    page.table(
        ["Hedge and costs", "Value"], [[lbl, fmt_metric(k, m.get(k))] for k, lbl in HEDGE_METRICS]
    )


def _attribution(page: HtmlPage, result: Result) -> None:
    attr = result.attribution or {}
    keys = [k for k in ATTRIBUTION_LABELS if k in attr and k != "total"]
    keys += [k for k in attr if k not in ATTRIBUTION_LABELS]
    rows = [[ATTRIBUTION_LABELS.get(k, k), fmt_usd(attr[k])] for k in keys]
    if "total" in attr:
        rows.append(["Total", fmt_usd(attr["total"])])
    change = result.metrics.get("equity_change")
    if change is not None:
        rows.append(["Equity change (check)", fmt_usd(change)])
    page.table(["Component", "USD"], rows)


def _num(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def event_detail(kind: str, row: Mapping[str, object]) -> str:
    """What one ledger event means, in words.

    The engine's event ledger reuses its columns by kind (docs/engine.md): for a rebalance
    ``contracts`` is the change traded and ``target_ratio``/``actual_ratio`` are the target and
    the ratio before the trade; for a top-up or withdrawal they are the target leverage and the
    leverage before it (``contracts`` the position held); for funding ``target_ratio`` is the
    rate; for a liquidation ``contracts`` is the size closed and ``price`` the liquidation price.
    """
    c, tgt, act = (
        _num(row.get("contracts")),
        _num(row.get("target_ratio")),
        _num(row.get("actual_ratio")),
    )
    coins, price = _num(row.get("coins")), _num(row.get("price"))
    if kind == "rebalance":
        side = "sold" if c < 0 else "bought"
        return f"{side} {abs(c):,.6g} contracts: ratio {act:.3f} before, target {tgt:.3f}"
    if kind in ("topup", "withdraw"):
        moved = "added" if kind == "topup" else "took out"
        return (
            f"{moved} {abs(coins):.6g} collateral coins: leverage {act:.2f}x before, "
            f"target {tgt:.2f}x"
        )
    if kind == "liquidation":
        return f"closed {abs(c):,.6g} contracts at {price:,.2f}; fee {abs(coins):.6g} coins"
    if kind == "funding":
        return f"rate {tgt * 100:.4f}% on {abs(c):,.6g} contracts"
    return ""


def _events(page: HtmlPage, result: Result) -> None:
    ev = result.events
    if ev is None or len(ev) == 0:
        page.paragraph("No events.", muted=True)
        return
    if "kind" not in ev.columns:
        page.heading("First events", 3)
        page.frame(ev, max_rows=EVENTS_SHOWN)
        return
    kinds = ev["kind"].map(lambda v: str(plain(v)))
    counts = kinds.value_counts().sort_index()
    page.table(["Kind", "Count"], [[k, f"{int(n):,d}"] for k, n in counts.items()])
    shown = ev[(kinds != "funding").to_numpy()]
    title = f"First events other than funding (of {len(shown):,d})"
    if len(shown) == 0:
        shown, title = ev, f"First events (of {len(ev):,d})"
    page.heading(title, 3)
    bar = _bar_length(result)
    rows = []
    for rec in shown.head(EVENTS_SHOWN).to_dict("records"):
        kind = str(plain(rec.get("kind")))
        t = rec.get("time")
        opened = pd.Timestamp(t) if t is not None else None
        closed = opened + bar if opened is not None and bar is not None else None
        rows.append(
            [
                _cell(closed) if closed is not None else _cell(opened),
                kind,
                _cell(rec.get("leg")),
                fmt_usd(rec.get("usd")),
                _cell(rec.get("price")),
                event_detail(kind, rec),
            ]
        )
    when = "bar close (UTC)" if bar is not None else "bar open (UTC)"
    page.table([when, "kind", "leg", "USD", "price", "what happened"], rows)
    if len(shown) > EVENTS_SHOWN:
        page.paragraph(f"First {EVENTS_SHOWN} of {len(shown):,d} rows.", muted=True)
    page.paragraph(
        "Times here are bar closes, when the engine acts; events.csv labels each event by its "
        "bar's open time (one bar earlier), like every series. Every event, funding included, "
        "is in events.csv.",
        muted=True,
    )


def _bar_length(result: Result) -> pd.Timedelta | None:
    """The run's bar length from meta['timeframe'] (None if unknown)."""
    tf = result.meta.get("timeframe")
    if not tf:
        return None
    try:
        from perphedge.domain import Timeframe

        return pd.Timedelta(Timeframe.parse(str(tf)).ns, unit="ns")
    except (ValueError, TypeError):
        return None


def _price_sources(page: HtmlPage, result: Result) -> None:
    """The table of where each leg's trade price, mark and liquidation high come from."""
    from perphedge.report.summary import PRICE_SOURCE_HEADER, price_source_rows

    rows = price_source_rows(list(result.meta.get("price_sources") or []))
    if not rows:
        return
    page.heading("Where each price comes from", 3)
    page.paragraph(
        "Per leg: the series the engine trades at, marks to and tests liquidation against. "
        "A substitute from another venue, market type or a coarser timeframe is a warning; "
        "basis is the median / largest gap between it and the leg's own stored prices."
    )
    page.table(list(PRICE_SOURCE_HEADER), rows, wrap=True)


def _data_used(page: HtmlPage, result: Result) -> None:
    _price_sources(page, result)
    sources = result.meta.get("sources") or []
    if sources:
        cols = ["path", "series", "first", "last", "rows", "source"]
        extra = sorted({k for s in sources if isinstance(s, Mapping) for k in s} - set(cols))
        header = cols + extra
        paths = [str(s.get("path")) for s in sources if isinstance(s, Mapping) and s.get("path")]
        root = _store_root(paths)
        if root:
            page.paragraph(f"Files under {root}/ (the data store); times are UTC bar opens.")
        rows = []
        for src in sources:
            if not isinstance(src, Mapping):
                rows.append([str(src)] + [""] * (len(header) - 1))
                continue
            row = [_source_cell(c, src.get(c)) for c in header]
            if root and str(src.get("path", "")).startswith(root + "/"):
                row[0] = str(src["path"])[len(root) + 1 :]
            rows.append(row)
        page.table(header, rows, wrap=True)
    else:
        page.paragraph("No data sources recorded.", muted=True)
    notes = all_notes(result)
    if notes:
        page.heading("Substitutes and notes", 3)
        page.bullets(group_warnings(notes))
    fp = result.meta.get("data_fingerprint")
    if fp:
        page.paragraph(f"Data fingerprint: {fp}", muted=True)


def build_run_page(result: Result, charts: Mapping[str, Path]) -> HtmlPage:
    """The report page of one run, before writing (the sweep report can add to it)."""
    meta = result.meta
    sub_bits = [f"run {meta['run_id']}" if meta.get("run_id") else None]
    sub_bits.append(f"config {meta['config_hash']}" if meta.get("config_hash") else None)
    page = HtmlPage(f"perphedge report: {run_title(result)}", " · ".join(b for b in sub_bits if b))
    page.heading("Headline")
    if meta.get("counterfactual"):
        page.paragraph(str(meta["counterfactual"]))
    _headline(page, result.metrics)
    if charts:
        page.heading("Charts")
        for name, path in charts.items():
            page.image(Path(path), alt=name.replace("_", " "), caption=chart_caption(name, result))
    page.heading("Attribution")
    _attribution(page, result)
    page.heading("Events")
    _events(page, result)
    page.heading("Data used")
    _data_used(page, result)
    page.heading("Warnings")
    warnings = group_warnings([str(w) for w in (meta.get("warnings") or [])])
    if warnings:
        page.bullets(warnings, warn=True)
    else:
        page.paragraph("None.", muted=True)
    page.heading("Counterfactual")
    page.paragraph(str(meta.get("counterfactual") or "Not recorded."))
    page.heading("Resolved config")
    overrides = meta.get("overrides")
    if overrides:
        page.paragraph("Command-line overrides: " + ", ".join(str(o) for o in overrides))
    cfg = meta.get("resolved_config")
    page.preformatted(config_yaml(cfg) if cfg else "(not recorded)")
    return page


def config_yaml(cfg: object) -> str:
    """The resolved config as YAML text, in its own key order."""
    return yaml.safe_dump(to_plain(cfg), sort_keys=False, allow_unicode=True)


def render_html(result: Result, charts: Mapping[str, Path], out_path: Path | str) -> Path:
    """Write the self-contained report.html of one run and return its path."""
    return build_run_page(result, charts).write(out_path)
