"""Write a search report to a folder: JSON, CSV of every trial, PNG plots, and one self-contained HTML file.

Everything is written into a temporary folder beside the target and moved into place at the end, so an
interrupted or failed report never leaves half a folder.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from dataclasses import asdict, fields
from pathlib import Path

from edgeopt.atomic import atomic_folder
from edgeopt.report.plots import hypervolume_plot, pr_curves_plot, tradeoff_plot
from edgeopt.report.search_report import SearchReport, TrialRow


def write_report(report: SearchReport, out_dir: str | Path) -> Path:
    """Write every report file to `out_dir` (replaced whole); returns the HTML file's path."""
    out_dir = Path(out_dir)
    with atomic_folder(out_dir) as tmp:
        (tmp / "report.json").write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
        for profile, rows in report.trials.items():
            _csv(tmp / f"trials-{profile}.csv", rows)
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
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(TrialRow)])
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(str(value))


def _table(rows: list[TrialRow], metric: str) -> str:
    head = ["trial", "epochs", "precision", "recall", "F1", "accuracy", "test P", "test R", "test F1", "params",
            "weight B", "peak act B", "latency ms", "energy uJ"]
    body = []
    for r in rows:
        cells = ["baseline (logistic)" if r.trial < 0 else r.trial, r.epochs, r.precision, r.recall, r.f1,
                 r.accuracy, r.test_precision, r.test_recall, r.test_f1, r.params, r.weight_bytes,
                 r.peak_activation_bytes, r.latency_s * 1e3, r.energy_j * 1e6]
        body.append("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in cells) + "</tr>")
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(body) + "</table>")


def _compressed_table(rows: list[dict], metric: str) -> str:
    head = ["trial", "weight B", "fits", f"val {metric}", f"test {metric}", "format after", "weight B after",
            "fits after", f"val {metric} after (ONNX)", f"test {metric} after (ONNX)", "pipeline"]
    body = []
    for r in rows:
        b, a = r["before"], r["after"]
        cells = [r["trial"], b["weight_bytes"], b["fits"], b["val"][metric], (b["test"] or {}).get(metric),
                 a["weight_format"], a["weight_bytes"], a["fits"], a["val"][metric], (a["test"] or {}).get(metric),
                 a["status"]]
        body.append("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in cells) + "</tr>")
    return ("<h3>Front before and after compression</h3><table><tr>" + "".join(f"<th>{h}</th>" for h in head)
            + "</tr>" + "".join(body) + "</table>")


def _html(report: SearchReport, folder: Path, pictures: list[str]) -> str:
    parts = [f"<h1>edgeopt search: {html.escape(report.name)}</h1>",
             f"<p>dataset {html.escape(report.dataset['name'])}: {report.dataset['train']} train, "
             f"{report.dataset['val']} validation, {report.dataset['test']} test samples; quality metric "
             f"<b>{report.metric}</b>; validation picks, test confirms.</p>"]
    for profile in report.profiles:
        parts.append(f"<h2>{html.escape(profile.profile)}</h2><p>{profile.feasible} trained trials fit; "
                     f"{profile.infeasible} sampled configurations fit no profile and were never trained. "
                     f"Weight limit {profile.limit_bytes:,.0f} bytes.</p>")
        parts.append("<h3>Pareto front</h3>" + _table(list(profile.front) + ([profile.baseline] if profile.baseline
                                                                          else []), report.metric))
        parts.append("<h3>Best under a size budget</h3><table><tr><th>budget</th><th>weight bytes</th><th>trial</th>"
                     "<th>precision</th><th>recall</th><th>F1</th><th>test precision</th><th>test recall</th></tr>")
        for b in profile.budgets:
            r = b.best
            cells = [b.label, b.weight_bytes] + ([r.trial, r.precision, r.recall, r.f1, r.test_precision,
                                                  r.test_recall] if r else ["nothing fits"] + [None] * 5)
            parts.append("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
        if report.compressed.get(profile.profile):
            parts.append(_compressed_table(report.compressed[profile.profile], report.metric))
    for name in pictures:
        data = base64.b64encode((folder / name).read_bytes()).decode()
        parts.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}"><figcaption>{name}'
                     "</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>edgeopt {html.escape(report.name)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


__all__ = ["write_report"]
