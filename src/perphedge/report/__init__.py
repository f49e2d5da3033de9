"""Reports of runs and comparisons: files on disk, PNG charts, self-contained HTML, terminal tables.

Entry points for the runner and the CLI:

- :func:`write_outputs` / :func:`load_run`: the run folder (every output file) and back.
- :func:`render_charts`, :func:`render_html`, :func:`summary_table`: the pieces on their own.
- :func:`compare_runs`: `backtest compare`.
- :func:`heatmap`, :func:`risk_return_scatter`, :func:`overlay_equity`, :class:`HtmlPage`,
  :func:`text_table`: building blocks for the sweep report.
"""

from perphedge.report.charts import RUN_CHARTS, render_charts
from perphedge.report.compare import compare_runs
from perphedge.report.files import load_run, metrics_json, write_outputs
from perphedge.report.fmt import fmt_metric, metric_label
from perphedge.report.grid_charts import heatmap, overlay_equity, risk_return_scatter
from perphedge.report.html import HtmlPage, build_run_page, render_html
from perphedge.report.plain import to_plain
from perphedge.report.summary import summary_table, text_table

__all__ = [
    "RUN_CHARTS",
    "HtmlPage",
    "build_run_page",
    "compare_runs",
    "fmt_metric",
    "heatmap",
    "load_run",
    "metric_label",
    "metrics_json",
    "overlay_equity",
    "render_charts",
    "render_html",
    "risk_return_scatter",
    "summary_table",
    "text_table",
    "to_plain",
    "write_outputs",
]
