"""Files of a compression run: report.json, steps.csv, steps.png (quality vs size across steps), report.html."""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import json
from pathlib import Path

from edgeopt.data.normalize import Normalizer
from edgeopt.figures import QUALITY_METRICS
from edgeopt.report.columns import REPORTED, cell, heading, metric_label


def write_compression_files(result, folder: Path, normalizer: Normalizer) -> None:
    """Write the report files of `result` into `folder` (the caller moves the folder into place)."""
    data = result.to_dict()
    onnx_bytes = (folder / "model.onnx").read_bytes()
    data["artifacts"] = {"model.onnx": {"sha256": hashlib.sha256(onnx_bytes).hexdigest(), "bytes": len(onnx_bytes)},
                         "model.pt2": {"note": "the final float weights as a torch.export program (dynamic batch)"}}
    data["input_normalisation"] = normalizer.to_dict() | {
        "note": (("z-normalise each series' channels over their own real steps (mean and std of that series; a "
                  "constant channel gets std 1; mean and std here are training figures, not applied)")
                 if normalizer.per_series else f"apply (x - mean) / std {normalizer.kind}")
        + " before the model, then set NaN padding (the steps after a shorter series' end) to 0, as the evaluation did"}
    (folder / "report.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    rows = [{"step": r.step, "accepted": r.accepted, "weight_format": r.weight_format, **r.cost.flat(),
             **r.metrics, "test_f1": r.test_metrics["f1"] if r.test_metrics else None, "note": r.note}
            for r in result.steps]
    with (folder / "steps.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["step"])
        writer.writeheader()
        writer.writerows(rows)
    steps_plot(result, folder / "steps.png")
    (folder / "report.html").write_text(_html(result, folder))


def steps_plot(result, path: Path) -> None:
    """Validation metric vs weight bytes on the device, one point per step, joined in order; the limit dashed."""
    from edgeopt.report.plots import _axes

    rows = result.steps
    with _axes(path, (7, 4.5), f"{result.profile}: {result.metric} vs size, step by step",
               "weight bytes on device (log)", f"validation {result.metric}") as ax:
        xs = [r.cost.weight_bytes for r in rows]
        ys = [r.metrics[result.metric] for r in rows]
        ax.plot(xs, ys, "-", color="#999", zorder=1)
        for r, x, y in zip(rows, xs, ys):
            ax.scatter([x], [y], s=50, zorder=2, color="#2a7" if r.fits else ("#c33" if r.accepted else "#888"),
                       marker="o" if r.accepted else "x")
            ax.annotate(f"{r.step} ({r.weight_format})", (x, y), textcoords="offset points", xytext=(6, 4),
                        fontsize=8)
        deployed = result.deployed.val.get(result.metric)
        ax.scatter([xs[-1]], [deployed], marker="*", s=120, color="#225", zorder=3, label="deployed ONNX")
        limits = [b["limit"] for b in result.budgets if b["what"] in ("max_weight_bytes", "weight_memory")]
        if limits and min(limits) < 30 * max(xs):  # a limit far off the scale would squash the steps into a corner
            ax.axvline(min(limits), ls="--", color="#c33", lw=1, label="weight limit")
        low, high = min(ys + [deployed]), max(ys + [deployed])
        pad = max(0.02, (high - low) * 0.15)
        ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad))
        ax.set_xscale("log")
        ax.legend(loc="lower right", fontsize=8)


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return html.escape(str(value))


def _html(result, folder: Path) -> str:
    d = result.deployed
    costs = [r.cost for r in result.steps]
    head = ["step", "format", *(heading(f, costs) for f in REPORTED), "fits", *map(metric_label, QUALITY_METRICS),
            "test F1", "note"]
    rows = []
    for r in result.steps:
        cells = [r.step + ("" if r.accepted else " (rejected)"), r.weight_format,
                 *(cell(f, r.cost) for f in REPORTED), r.fits, *(r.metrics.get(m) for m in QUALITY_METRICS),
                 r.test_metrics["f1"] if r.test_metrics else None, r.note]
        rows.append("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in cells) + "</tr>")
    deployed_rows = []
    for label, metrics, sim in (("validation", d.val, d.simulated_val), ("test", d.test, d.simulated_test)):
        if metrics is None:
            continue
        deployed_rows.append("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in (
            label, *(metrics[m] for m in QUALITY_METRICS), *(sim[m] for m in QUALITY_METRICS))) + "</tr>")
    flag = (f"<p style='color:#c33'><b>Deployed and simulated {result.metric} differ by {d.gap:.4f}</b> (over "
            "0.005): the exported arithmetic is not what was evaluated in PyTorch.</p>" if d.gap_flagged else "")
    budgets = "".join(f"<tr><td>{html.escape(b['label'])}</td><td>{_fmt(b['limit'])}</td><td>{_fmt(b['actual'])}"
                      f"</td><td>{'holds' if b['passed'] else 'over by ' + _fmt(b['over_by'])}</td></tr>"
                      for b in result.budgets)
    image = base64.b64encode((folder / "steps.png").read_bytes()).decode()
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
             "font-size:13px;margin-bottom:1em}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
             "img{max-width:100%}")
    status = "completed" if result.status == "completed" else f"stopped: {html.escape(result.reason)}"
    return ("<!doctype html><html><head><meta charset='utf-8'><title>edgeopt compress</title>"
            f"<style>{style}</style></head><body><h1>edgeopt compress: {html.escape(result.model)} for "
            f"{html.escape(result.profile)}</h1><p>metric <b>{result.metric}</b>, tolerance {_fmt(result.max_drop)} "
            f"below {result.reference_score:.4f}; pipeline {status}"
            f"{'' if result.status != 'completed' or not result.reason else ' (' + html.escape(result.reason) + ')'}"
            "</p><h2>Before / after, step by step</h2><table><tr>"
            + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"
            f"<h2>Deployed artifact (model.onnx, {d.size_bytes:,} bytes, host latency {d.host_latency_s * 1e6:.1f} us, "
            "measured)"
            "</h2><table><tr><th>split</th>" + "".join(f"<th>{metric_label(m)}</th>" for m in QUALITY_METRICS)
            + "".join(f"<th>sim. {metric_label(m)}</th>" for m in QUALITY_METRICS) + "</tr>"
            + "".join(deployed_rows) + f"</table>{flag}<h2>Budgets</h2><table><tr><th>limit</th><th>value</th>"
            f"<th>model</th><th></th></tr>{budgets}</table>"
            f'<figure><img alt="steps" src="data:image/png;base64,{image}"><figcaption>steps.png</figcaption>'
            "</figure></body></html>\n")
