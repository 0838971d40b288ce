"""Write a search report to a folder: JSON, CSV of every trial, PNG plots, and one self-contained HTML file.

Everything is written into a temporary folder beside the target and moved into place at the end, so an
interrupted or failed report never leaves half a folder.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from pathlib import Path

from edgeopt.atomic import atomic_folder
from edgeopt.escape import csv_cell
from edgeopt.figures import QUALITY_METRICS
from edgeopt.profiles.units import format_bytes
from edgeopt.report.columns import HEADLINE_METRICS, REPORTED, cell, metric_label, row_heading
from edgeopt.report.plots import hypervolume_plot, pr_curves_plot, tradeoff_plot
from edgeopt.report.search_report import SearchReport, TrialRow


def write_report(report: SearchReport, out_dir: str | Path, inputs=()) -> Path:
    """Write every report file to `out_dir` (an earlier report there is replaced whole, anything else refused;
    `inputs`: what it must not be or hold, the run folder's study); returns the HTML file's path."""
    out_dir = Path(out_dir)
    with atomic_folder(out_dir, "report", inputs) as tmp:
        (tmp / "report.json").write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
        for profile, rows in report.trials.items():
            _csv(tmp / f"trials-{profile}.csv", rows)
        for profile in report.profiles:
            if profile.baselines:
                _csv(tmp / f"baselines-{profile.profile}.csv", profile.baselines)
        pictures = []
        for index, profile in enumerate(report.profiles):
            name = f"tradeoff-{profile.profile}.png"
            tradeoff_plot(report, index, tmp / name)
            pictures.append(name)
        pr_curves_plot(report, tmp / "pr-curves.png")
        hypervolume_plot(report, tmp / "progress.png")
        pictures += ["pr-curves.png", "progress.png"]
        (tmp / "report.html").write_text(_html(report, tmp, pictures))
    return out_dir / "report.html"


def _csv(path: Path, rows) -> None:
    flat = [row.flat() for row in rows]
    fields = list(dict.fromkeys(key for row in flat for key in row))  # rows of several tools hold several keys
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields or ["trial"], restval="")
        writer.writeheader()
        writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in flat)


def _fmt(value, digits: int = 3) -> str:
    """Quality figures to three decimals; counts as whole numbers with thousands separators."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(str(value))


def _cells(cells) -> str:
    return "".join(f"<td>{c if isinstance(c, _Unit) else _fmt(c)}</td>" for c in cells)


class _Unit(str):
    """A figure already written with its unit ("1.2 KiB", "35 us"): shown as is."""


def _table(rows: list[TrialRow], metric: str, recommended: int | None = None) -> str:
    headings = {f: row_heading(f, rows) for f in REPORTED}
    head = ["trial", "epochs", *map(metric_label, QUALITY_METRICS), f"{metric} over folds",
            *(f"test {metric_label(m)}" for m in HEADLINE_METRICS), *headings.values()]
    body = []
    for r in rows:
        label = f"lab tool: {r.name}" if r.tool else f"{r.label} ★ recommended" if r.trial == recommended \
            else r.label
        spread = _Unit("–" if not r.fold_spread else "{:.3f} ± {:.3f}".format(*r.fold_spread[metric]))
        cells = [label, r.epochs, *(r.quality(m) for m in QUALITY_METRICS), spread,
                 *(r.quality(m, test=True) for m in HEADLINE_METRICS),
                 *(_Unit(cell(f, r.cost, headings[f])) for f in REPORTED)]
        css = ' class="recommended"' if r.trial == recommended and r.trial >= 0 else ""
        body.append(f"<tr{css}>{_cells(cells)}</tr>")
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(body) + "</table>")


def selection_text(report: SearchReport) -> str:
    """How the search chose its models, for people."""
    selection = report.settings.get("selection") or {"method": "holdout"}
    if selection["method"] == "cv":
        return (f"models ranked by {selection['folds']}-fold stratified cross-validation over train + validation "
                f"(the validation split alone holds {report.dataset['val']} samples, too few to rank by); validation "
                "figures are those of the pooled out-of-fold predictions, and each model shown (and tested) is "
                "refit on train + validation")
    return "models ranked on the validation split; the test split is read only by this report"


def _compressed_table(rows: list[dict], metric: str) -> str:
    head = ["trial", "weights", "fits", f"val {metric}", f"test {metric}", "format after", "weights after",
            "fits after", f"val {metric} after (ONNX)", f"test {metric} after (ONNX)", "pipeline"]
    body = []
    for r in rows:
        b, a = r["before"], r["after"]
        cells = [r["trial"], _Unit(format_bytes(b["weight_bytes"])), b["fits"], b["val"][metric],
                 (b["test"] or {}).get(metric), a["weight_format"], _Unit(format_bytes(a["weight_bytes"])), a["fits"],
                 a["val"][metric], (a["test"] or {}).get(metric), a["status"]]
        body.append(f"<tr>{_cells(cells)}</tr>")
    return ("<h3>Front before and after compression</h3><table><tr>" + "".join(f"<th>{h}</th>" for h in head)
            + "</tr>" + "".join(body) + "</table>")


def _html(report: SearchReport, folder: Path, pictures: list[str]) -> str:
    parts = [f"<h1>edgeopt search: {html.escape(report.name)}</h1>",
             f"<p>dataset {html.escape(report.dataset['name'])}: {report.dataset['train']} train, "
             f"{report.dataset['val']} validation, {report.dataset['test']} test samples; quality metric "
             f"<b>{report.metric}</b>; {html.escape(selection_text(report))}</p>"]
    for profile in report.profiles:
        chosen = profile.recommended.trial if profile.recommended else None
        parts.append(f"<h2>{html.escape(profile.profile)}</h2><p class='verdict'>{html.escape(profile.verdict)}</p>"
                     f"<p>{profile.feasible} trained trials fit; {profile.infeasible} sampled configurations fit no "
                     f"profile or cannot take the data's samples ({profile.inapplicable}) and were never trained. "
                     f"Weight limit {html.escape(format_bytes(profile.limit_bytes))}.</p>")
        parts.append("<h3>Pareto front, and the lab's tools</h3>"
                     + _table(list(profile.front) + list(profile.baselines), report.metric, chosen))
        head = ["budget", "weights", "trial", *map(metric_label, HEADLINE_METRICS),
                *(f"test {metric_label(m)}" for m in HEADLINE_METRICS[:2]), "beats the lab's tools"]
        parts.append("<h3>Best under a size budget</h3><table><tr>" + "".join(f"<th>{h}</th>" for h in head)
                     + "</tr>")
        for b in profile.budgets:
            r = b.best
            cells = [b.label, _Unit(format_bytes(b.weight_bytes))] + (
                [r.label, *(r.quality(m) for m in HEADLINE_METRICS),
                 *(r.quality(m, test=True) for m in HEADLINE_METRICS[:2]), b.beats_baseline] if r
                else [_Unit("no model beats a constant predictor")] + [None] * 6)
            parts.append(f"<tr>{_cells(cells)}</tr>")
        parts.append("</table>")
        if report.compressed.get(profile.profile):
            parts.append(_compressed_table(report.compressed[profile.profile], report.metric))
    for name in pictures:
        data = base64.b64encode((folder / name).read_bytes()).decode()
        parts.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}"><figcaption>{name}'
                     "</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}img{max-width:100%}"
             "tr.recommended{background:#eef7ee;font-weight:bold}.verdict{font-size:15px;font-weight:bold}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>edgeopt {html.escape(report.name)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


__all__ = ["write_report"]
