"""Rich tables for estimates, budget checks and profiles; what the CLI prints (the same figures go out as --json)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from edgeopt.gate import CheckResult
from edgeopt.cost.estimate import Estimate
from edgeopt.figures import QUALITY_METRICS
from edgeopt.profiles.compute_figures import OP_FIGURES, SCALAR_FIGURES, ComputeFigure
from edgeopt.profiles.schema import HardwareProfile
from edgeopt.profiles.units import Dimension, format_bytes, format_count, format_joules, format_seconds
from edgeopt.report.columns import HEADLINE_METRICS, REPORTED, cell, heading, metric_label, row_heading


def render_estimate(est: Estimate, console: Console, *, layers: bool = True, measured=None) -> None:
    """Per-layer table, totals, and fits / does not fit with the reasons; with `measured` (NodeTimes), each layer's
    measured latency beside its estimate."""
    crossbar = est.crossbar_tiles_available is not None
    if layers:
        table = Table(title=f"{est.model} on {est.profile}", title_justify="left", show_footer=True)
        columns = ["layer", "op", "output", "params", "weights", "MACs", "act out",
                   f"latency ({est.latency_from.source})", f"energy ({est.energy_from.source})"]
        if crossbar:
            columns.append("tiles")
        t = est.total
        footers = ["total", "", "", format_count(t.params), format_bytes(t.weight_bytes), format_count(t.macs),
                   format_bytes(t.activation_bytes), format_seconds(t.latency_s), format_joules(t.energy_j)]
        if measured is not None:
            columns.insert(8, "measured")
            footers.insert(8, f"{format_seconds(measured.call_s)} (call)")
        if crossbar:
            footers.append(f"{t.crossbar_tiles:.2f}")
        for name, footer in zip(columns, footers):
            table.add_column(name, footer=footer, justify="left" if name in ("layer", "op", "output") else "right")
        for layer in est.layers:
            c = layer.cost
            shape = "x".join(map(str, layer.output_shape)) if layer.output_shape else "?"
            op = layer.op.value + (" (fused)" if layer.fused else "")
            if layer.op.value == "unknown":
                op = Text(f"unknown: {layer.source_op}", style="yellow")
            row = [layer.name, op, shape, format_count(c.params), format_bytes(c.weight_bytes), format_count(c.macs),
                   format_bytes(c.activation_bytes), format_seconds(c.latency_s), format_joules(c.energy_j)]
            if measured is not None:
                node = measured.node_s.get(layer.name)
                row.insert(8, "-" if node is None else format_seconds(node))
            if crossbar:
                row.append(f"{c.crossbar_tiles:.2f}")
            table.add_row(*row)
        console.print(table)
    t = est.total
    console.print(
        f"params {t.params:,}  weights {format_bytes(t.weight_bytes)}  peak activations "
        f"{format_bytes(est.peak_activation_bytes)} (at {est.peak_layer or 'input'})  MACs {format_count(t.macs)}  "
        f"latency {format_seconds(t.latency_s)} ({est.latency_from})  energy {format_joules(t.energy_j)} "
        f"({est.energy_from})  power {est.power_w:.3g} W"
        + (f"  tiles {est.crossbar_tiles_needed}/{est.crossbar_tiles_available}" if crossbar else "")
    )
    if est.engine is not None and est.fabric is not None:
        f = est.fabric
        console.print(f"Verilog engine on {f.family}: {f.lanes} lane{'s' if f.lanes != 1 else ''}, "
                      f"{est.engine.clocks:,} clocks; LUTs {f.luts:,.0f} ({f.luts_from}), flip-flops {f.ffs:,.0f} "
                      f"({f.ffs_from}), DSP slices {f.dsps} and block RAMs {f.brams} (counted)")
    if measured is not None:
        nodes = sum(measured.node_s.values())
        console.print(f"measured ({measured.runtime}, median of {measured.runs} calls): "
                      f"{format_seconds(measured.call_s)} a call; the profiler's node times sum to "
                      f"{format_seconds(nodes)} (microsecond resolution, its own cost included)")
    for note in est.notes:
        console.print(Text(f"note: {note}", style="dim"))
    if est.fits:
        console.print(Text(f"fits {est.profile}", style="green"))
    else:
        console.print(Text(f"does not fit {est.profile}:", style="red"))
        for v in est.violations:
            console.print(f"  - {v.message}")


def render_check(result: CheckResult, console: Console) -> None:
    """One line per budget, legality rule and baseline metric, then the verdict."""
    table = Table(title=f"edgeopt check: {result.model} on {result.profile}", title_justify="left")
    for name in ("check", "result", "detail"):
        table.add_column(name)
    for item in result.items:
        mark = Text("pass", style="green") if item.passed else Text("FAIL", style="red")
        table.add_row(item.name, mark, item.message)
    console.print(table)
    if result.baseline_written:
        console.print(f"baseline written to {result.baseline_path}")
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))
    failures = result.failures
    if failures:
        console.print(Text(f"{len(failures)} of {len(result.items)} checks failed", style="red"))
    else:
        console.print(Text(f"all {len(result.items)} checks passed", style="green"))


def render_profile_list(profiles: list[HardwareProfile], console: Console) -> None:
    table = Table(title="hardware profiles", title_justify="left")
    for name in ("name", "weights", "activations", "formats", "peak", "description"):
        table.add_column(name)
    for p in profiles:
        peak = max(p.compute.macs_per_s.values())
        table.add_row(p.name, f"{format_bytes(p.weight_memory.usable_bytes)} {p.weight_memory.kind}",
                      f"{format_bytes(p.activation_memory.usable_bytes)} {p.activation_memory.kind}",
                      ",".join(p.weight_formats), f"{format_count(peak)}MAC/s", p.description)
    console.print(table)


def render_profile(p: HardwareProfile, console: Console) -> None:
    console.print(Text.assemble((p.name, "bold"), f"  {p.description}"))
    if p.path:
        console.print(Text(str(p.path), style="dim"))
    rows = profile_figures(p)
    table = Table(show_header=True, title_justify="left")
    for name in ("field", "value", "source"):
        table.add_column(name)
    for field, value in rows.items():
        if field not in p.figure_sources:
            source = Text("default", style="dim")
        elif not p.figure_sources[field]:
            source = Text("unsourced", style="yellow")
        else:
            key = p.figure_sources[field]
            source = p.sources.get(key, key)
        table.add_row(field, value, source)
    console.print(table)
    console.print(f"ops: {', '.join(sorted(o.value for o in p.ops))}")
    if p.compute.fused_ops:
        fusions = "; ".join(f"{mac.value}: {', '.join(sorted(o.value for o in ops))}"
                            for mac, ops in sorted(p.compute.fused_ops.items()) if ops)
        console.print(f"fused into the MAC layer before them (compute.fused_ops): {fusions}")
    if p.compute.layout_ops:
        console.print(f"keep a blocked channel layout (compute.layout_ops): "
                      f"{', '.join(sorted(o.value for o in p.compute.layout_ops))}")
    if p.calibration is not None:
        console.print(p.calibration.describe())


def profile_figures(p: HardwareProfile) -> dict[str, str]:
    """The profile's figures, formatted, keyed by the YAML field path they come from."""
    rows: dict[str, str] = {}
    for key, mem in (("weights", p.weight_memory), ("activations", p.activation_memory)):
        rows[f"memory.{key}.size"] = f"{format_bytes(mem.size_bytes)} {mem.kind}"
        rows[f"memory.{key}.reserved"] = format_bytes(mem.reserved_bytes)
        rows[f"memory.{key}.bandwidth"] = f"{mem.bandwidth_bytes_per_s / 1e9:.3g} GB/s" \
            if mem.bandwidth_bytes_per_s else "not a bottleneck"
        rows[f"memory.{key}.energy_per_byte"] = format_joules(mem.energy_per_byte_j)
    if p.compute.clock_hz:
        rows["compute.clock"] = f"{p.compute.clock_hz / 1e6:.4g} MHz"
    for fmt, rate in p.compute.macs_per_s.items():
        key = f"compute.macs_per_cycle.{fmt}" if f"compute.macs_per_cycle.{fmt}" in p.figure_sources \
            else f"compute.peak.{fmt}"
        rows[key] = f"{format_count(rate)}MAC/s"
    rows["compute.op_efficiency.default"] = f"{p.compute.default_efficiency:.2f}"
    for spec in OP_FIGURES:
        for op, value in p.compute.given(spec.name).items():
            rows[f"compute.{spec.yaml_key}.{op.value}"] = _figure_text(spec, value)
    for spec in SCALAR_FIGURES:
        value = getattr(p.compute, spec.name)
        if value or spec.name == "layer_overhead_s":
            rows[f"compute.{spec.yaml_key}"] = _figure_text(spec, value)
    if p.crossbar:
        rows["crossbar.rows"] = str(p.crossbar.rows)
        rows["crossbar.cols"] = str(p.crossbar.cols)
        rows["crossbar.tiles"] = str(p.crossbar.tiles)
    for fmt, joules in p.energy.mac_j.items():
        rows[f"energy.per_mac.{fmt}"] = format_joules(joules)
    rows["energy.static_power"] = f"{p.energy.static_power_w:.3g} W"
    rows["formats.weights"] = f"{', '.join(p.weight_formats)} (default {p.weight_format})"
    rows["formats.activations"] = f"{', '.join(p.activation_formats)} (default {p.activation_format})"
    b = p.budgets
    for key, value, fmt in (("max_params", b.max_params, format_count), ("max_weight_bytes", b.max_weight_bytes,
                            format_bytes), ("max_activation_bytes", b.max_activation_bytes, format_bytes),
                            ("max_latency", b.max_latency_s, format_seconds), ("max_energy", b.max_energy_j,
                            format_joules), ("max_power", b.max_power_w, lambda w: f"{w:.3g} W")):
        if value is not None:
            rows[f"budgets.{key}"] = fmt(value)
    return rows


def _figure_text(spec: ComputeFigure, value: float) -> str:
    if spec.name == "channel_tile" and not value:
        return "all output channels in one pass over the input"
    return spec.text.format(value=format_seconds(value) if spec.dimension is Dimension.TIME else value)


def render_search_report(report, console: Console) -> None:
    """Per profile: the Pareto front with validation and test quality against every cost, then size budgets."""
    metric = report.metric
    for profile in report.profiles:
        table = Table(title=f"{report.name}: Pareto front on {profile.profile} ({profile.feasible} trained fit, "
                            f"{profile.infeasible} infeasible never trained)", title_justify="left")
        rows = list(profile.front) + list(profile.baselines)
        headings = {f: row_heading(f, rows) for f in REPORTED}
        for name in ("trial", "epochs", *map(metric_label, QUALITY_METRICS), "folds ±",
                     *(f"test {metric_label(m)}" for m in HEADLINE_METRICS), *headings.values()):
            table.add_column(name, justify="right")
        chosen = profile.recommended.trial if profile.recommended else None
        for r in rows:
            label = r.name if r.tool else f"{r.label} *" if r.trial == chosen else r.label
            spread = "–" if not r.fold_spread else "{:.3f}±{:.3f}".format(*r.fold_spread[metric])
            table.add_row(label, str(r.epochs), *(_q(r.quality(m)) for m in QUALITY_METRICS), spread,
                          *(_q(r.quality(m, test=True)) for m in HEADLINE_METRICS),
                          *(cell(f, r.cost, headings[f]) for f in REPORTED))
        console.print(table)
        budgets = Table(title=f"best {metric} under a weight budget on {profile.profile}", title_justify="left")
        for name in ("budget", "weights", "trial", *map(metric_label, HEADLINE_METRICS),
                     *(f"test {metric_label(m)}" for m in HEADLINE_METRICS[:2]), "beats the lab's tools"):
            budgets.add_column(name, justify="right")
        for b in profile.budgets:
            r = b.best
            cells = [r.label, *(_q(r.quality(m)) for m in HEADLINE_METRICS),
                     *(_q(r.quality(m, test=True)) for m in HEADLINE_METRICS[:2]),
                     "–" if b.beats_baseline is None else "yes" if b.beats_baseline else "NO"] if r \
                else ["none beats a constant"] + [""] * 6
            budgets.add_row(b.label, format_bytes(b.weight_bytes), *cells)
        console.print(budgets)
        if report.compressed.get(profile.profile):
            console.print(compressed_front_table(report.compressed[profile.profile], profile.profile, metric))
    if any(p.baselines for p in report.profiles):
        console.print(Text(baselines_note(report)), soft_wrap=True)
    for profile in report.profiles:  # the answer, last, where it is read: * marks it in the front above
        console.print(Text(profile.verdict), soft_wrap=True)


def baselines_note(report) -> str:
    """How the lab's tools in the tables were fitted, and what they cost in time beside the search."""
    tools = {r.tool: r for p in report.profiles for r in p.baselines}
    fitted = "; ".join(f"{r.name}: {r.detail['fitted']}" for r in tools.values())
    return (f"lab's tools (fitted in {report.baseline_seconds:.1f} s beside the search; --baselines chooses them): "
            f"{fitted}")


def compressed_front_table(rows: list[dict], profile: str, metric: str) -> Table:
    """Front members before and after `search --compress`: size, format and quality (after: the deployed ONNX)."""
    table = Table(title=f"front on {profile} before -> after compression (after: measured ONNX)", title_justify="left")
    for name in ("trial", "weights", "fits", f"val {metric}", f"test {metric}", "-> format", "weights", "fits",
                 f"val {metric}", f"test {metric}", "status"):
        table.add_column(name, justify="right")
    for r in rows:
        before, after = r["before"], r["after"]
        table.add_row(str(r["trial"]), format_bytes(before["weight_bytes"]), "yes" if before["fits"] else "no",
                      _q(before["val"][metric]), _q((before["test"] or {}).get(metric)), after["weight_format"],
                      format_bytes(after["weight_bytes"]), "yes" if after["fits"] else "no",
                      _q(after["val"][metric]), _q((after["test"] or {}).get(metric)), after["status"])
    return table


def _q(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def render_space_survey(result, console: Console) -> None:
    size = "infinite (float ranges)" if result.configurations == float("inf") else f"{result.configurations:,.0f}"
    console.print(Text.assemble((result.space, "bold"), f" ({result.family}): {size} configurations"))
    console.print(Text(f"  apply to samples of shape {'x'.join(map(str, result.sample_shape))}: "
                       f"{result.applicable_share:.1%}"
                       + "".join(f"; {count} of the shape combinations: {why}" for why, count in result.reasons[:3])))
    for profile, share in result.fit_share.items():
        console.print(f"  fits {profile}: {share:.0%} of {result.samples} samples")
    table = Table(title="samples", title_justify="left")
    table.add_column("config")
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
    for profile in result.fit_share:
        table.add_column(f"{profile} weights", justify="right")
    for example in result.examples:
        config = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in example["config"].items())
        fits = [f"{format_bytes(c['weight_bytes'])} {'fits' if c['fits'] else 'no'}" for c in example["costs"].values()]
        table.add_row(config, f"{example['params']:,}", format_count(example["macs"]), *fits)
    console.print(table)


def render_compression(result, console: Console) -> None:
    """The before/after table of a compression run, the deployed artifact's measured figures, and the budgets."""
    table = Table(title=f"{result.model} -> {result.profile} (metric {result.metric}, tolerance {result.max_drop})",
                  show_lines=False)
    costs = [r.cost for r in result.steps]
    for head in ("step", "format", *(heading(f, costs) for f in REPORTED), "fits", *map(metric_label, QUALITY_METRICS),
                 "test F1"):
        table.add_column(head, justify="left" if head in ("step", "format") else "right")
    for r in result.steps:
        table.add_row(r.step + ("" if r.accepted else " (rejected)"), r.weight_format,
                      *(cell(f, r.cost) for f in REPORTED), "yes" if r.fits else Text("no", style="red"),
                      *(_q(r.metrics.get(m)) for m in QUALITY_METRICS),
                      _q(r.test_metrics["f1"] if r.test_metrics else None))
    console.print(table)
    for r in result.steps:
        if r.note:
            console.print(f"  {r.step}: {r.note}")
    d = result.deployed
    splits = [("validation", d.val, d.simulated_val)] + ([("test", d.test, d.simulated_test)] if d.test else [])
    for label, deployed, simulated in splits:
        console.print(f"deployed {label}: precision {deployed['precision']:.3f} recall {deployed['recall']:.3f} "
                      f"F1 {deployed['f1']:.3f} accuracy {deployed['accuracy']:.3f}  (PyTorch simulation: "
                      f"F1 {simulated['f1']:.3f})")
    console.print(f"model.onnx: {d.size_bytes:,} bytes, host latency {format_seconds(d.host_latency_s)} (measured, "
                  "onnxruntime, 1 thread)")
    if d.gap_flagged:
        console.print(Text(f"warning: deployed and simulated {result.metric} differ by {d.gap:.4f}", style="red"))
    failing = [b for b in result.budgets if not b["passed"]]
    for b in failing:
        console.print(Text(f"over budget: {b['label']} {b['actual']:.6g} > {b['limit']:.6g} "
                      f"(by {b['over_by']:.6g})", style="red"))
    verdict = "completed" if result.status == "completed" else "stopped"
    console.print(f"pipeline {verdict}" + (f": {result.reason}" if result.reason else "") +
                  ("; the model fits the profile" if result.fits else ""))


def render_export(record, console: Console) -> None:
    """What an export wrote, its sizes beside the cost model's estimates, and how to call it."""
    table = Table(title=f"{record.model} -> {record.profile} ({record.format})")
    counted = "counted in the Verilog" if record.format == "verilog" else "counted in the C"
    for head in ("figure", counted, "estimated (cost model)"):
        table.add_column(head, justify="left" if head == "figure" else "right")
    table.add_row("weights and constants", _bytes_or_dash(record.counted_weight_bytes),
                  format_bytes(record.estimated_weight_bytes))
    ram = "RAM: input + every layer's output" if record.format == "verilog" else "RAM: arena + input + logits"
    table.add_row(ram, _bytes_or_dash(record.counted_ram_bytes), format_bytes(record.estimated_peak_activation_bytes))
    console.print(table)
    if record.format == "verilog":
        at_clock = f" ({format_seconds(record.latency_s)} at the profile's clock)" if record.latency_s else ""
        console.print(f"{record.layers} layers ({', '.join(record.ops)}); input int{record.input_bits} x "
                      f"{record.input_shape}; {record.output_size} int32 logits streamed out; "
                      f"{record.clock_cycles:,} clocks per inference (counted, {record.lanes} MAC lane"
                      f"{'s' if record.lanes != 1 else ''}){at_clock}")
        if record.fabric is not None:
            f = record.fabric
            console.print(f"synthesized for {f.family} ({f.tool}, {f.synth_s:g} s; measured): {f.luts:,} LUTs "
                          f"({f.lut_ram:,} as memory), {f.ffs:,} flip-flops, {f.dsps} DSP slices, {f.brams:g} block "
                          f"RAMs ({'4 Kb' if f.family == 'ice40' else '18 Kb'})")
            if f.fmax_hz is not None:
                console.print(f"placed and routed on {f.place_route}: {f.fmax_hz / 1e6:.1f} MHz reached (measured)")
        console.print(f"module {record.name}: write the input, pulse start, read out_valid/out_index/out_data until "
                      f"done; files in {record.out_dir}: {', '.join(record.files)}")
        return
    if record.format != "c":
        console.print(f"{record.layers} weighted layers; files in {record.out_dir}: {', '.join(record.files)}")
        return
    console.print(f"{record.layers} layers ({', '.join(record.ops)}); input int{record.input_bits} x "
                  f"{record.input_shape} at scale {record.input_scale:.6g}, zero point {record.input_zero_point}; "
                  f"{record.output_size} int32 logits at scale {record.output_scale:.6g}")
    console.print(f"call: {record.name}_run(input, logits, arena) with a {record.counted_arena_bytes}-byte arena; "
                  f"files in {record.out_dir}: {', '.join(record.files)}")


def render_deployment(deployment, console: Console) -> None:
    """The exported C's own predictions on a test split, and how closely it computes what was measured."""
    a, m = deployment.agreement, deployment.metrics
    simulated = deployment.clocks_per_inference is not None
    where = deployment.device + (" (HDL simulation)" if simulated else " (emulated)" if deployment.device != "host"
                                 else " build")
    console.print(f"deployed on {where}, {deployment.split} split ({a.samples} samples): precision "
                  f"{m['precision']:.3f} recall {m['recall']:.3f} F1 {m['f1']:.3f} accuracy {m['accuracy']:.3f} "
                  "(measured)")
    console.print(f"inputs normalised by: {deployment.normalisation}")
    console.print(f"{'Verilog' if simulated else 'C'} vs integer reference: {a.bit_exact_share:.1%} bit-exact; "
                  f"vs onnxruntime: same class "
                  f"{a.class_agreement:.1%}, every logit within one int8 step {a.within_step_share:.1%}")
    if simulated:
        console.print(f"{deployment.device}: {deployment.clocks_per_inference:,} clocks per inference (measured)")
    if deployment.instructions_mean is not None:
        console.print(f"{deployment.device}: {deployment.instructions_mean:,.0f} instructions per inference "
                      f"(estimated: QEMU -icount, no caches or wait states); logits equal to the host build on "
                      f"{deployment.emulated_equals_host:.1%} of samples")


def _bytes_or_dash(value) -> str:
    return "-" if value is None else format_bytes(value)


def render_fabric_calibration(result, console: Console) -> None:
    """Each synthesized engine's cells beside the fitted model's, then the fit."""
    table = Table(title=f"{result.profile}'s engine on {result.family}: synthesized (yosys) vs the fitted model",
                  title_justify="left")
    for column in ("model", "lanes", "LUTs", "fitted", "FFs", "fitted", "DSPs (counted)", "block RAMs (counted)"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for m, luts, ffs in zip(result.measurements, result.fit.predicted_luts, result.fit.predicted_ffs):
        use = m.use
        table.add_row(m.label, str(m.lanes), f"{use.luts:,}", f"{luts:,.0f} ({luts / use.luts - 1:+.0%})",
                      f"{use.ffs:,}", f"{ffs:,.0f} ({ffs / use.ffs - 1:+.0%})", f"{use.dsps} ({m.estimated_dsps})",
                      f"{use.brams:g} ({m.estimated_brams})")
    console.print(table)
    fit = result.fit
    console.print(f"fitted (source: measured) on {len(result.measurements)} engines, {result.tool}: LUT fit error "
                  f"{fit.luts_fit_error:.1%} ({fit.luts_within_10pct:.0%} within +-10%), flip-flops "
                  f"{fit.ffs_fit_error:.1%} ({fit.ffs_within_10pct:.0%} within +-10%); wrote {result.out}")


def render_calibration(result, console: Console) -> None:
    """Each measurement beside the profile's estimate before and after the fit, then the fitted figures."""
    table = Table(title=f"latency: measured vs {result.profile} (estimated) vs calibrated", title_justify="left")
    for column in ("model", "measured", "estimated", "error", "calibrated", "error", "rounds' spread"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for label, measured, before, after, spread in zip(result.fit.labels, result.fit.measured_s, result.before_s,
                                                      result.fit.predicted_s, result.spread):
        table.add_row(label, format_seconds(measured), format_seconds(before), f"{before / measured - 1:+.0%}",
                      format_seconds(after), f"{after / measured - 1:+.0%}", f"{spread:.0%}")
    console.print(table)
    fit = result.fit
    fitted = [spec for spec in OP_FIGURES if spec.fit]
    ops = sorted({op for spec in fitted for op in fit.figure(spec.name)}, key=str)
    figures = ", ".join(f"{op} " + " + ".join(f"{spec.name.replace('_', ' ')} {_figure_text(spec, value)}"
                                              for spec in fitted if (value := fit.figure(spec.name).get(op))
                                              is not None) for op in ops)
    conversion = "" if fit.layout_conversion_cost is None else \
        f"; {fit.layout_conversion_cost:.3g} MACs an element converted between channel layouts"
    console.print(f"fitted (source: measured): {figures}; other layers {format_seconds(fit.layer_overhead_s)}; "
                  f"per call {format_seconds(fit.call_overhead_s)}{conversion}")
    if result.layout:
        console.print("channel layout (read from the runtime's optimized graph): " + ", ".join(
            f"{op} in blocks of {block}" + (f", {tile} filters a pass" if tile else "")
            for op, (block, tile) in sorted(result.layout.items(), key=lambda item: str(item[0]))))
    if result.energy is not None:
        energy = result.energy
        table = Table(title=f"energy: measured vs {result.profile} (estimated) vs calibrated", title_justify="left")
        for column in ("model", "measured", "estimated", "error", "calibrated", "error"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for label, measured, before, after in zip(energy.labels, energy.measured_j, result.energy_before_j,
                                                  energy.predicted_j):
            table.add_row(label, format_joules(measured), format_joules(before), f"{before / measured - 1:+.0%}",
                          format_joules(after), f"{after / measured - 1:+.0%}")
        console.print(table)
        per_mac = ", ".join(f"{fmt} {format_joules(j)}" for fmt, j in sorted(energy.mac_j.items()))
        console.print(f"fitted energy (source: measured): per MAC {per_mac}; static {energy.static_power_w:.3g} W")
    else:
        console.print("energy: no measured energies, so the profile's energy figures stay estimates")
    console.print(f"{result.calibration.describe()}; within +-10%: {result.calibration.within_10pct:.0%}")
    if result.caution:
        console.print(Text(f"caution: {result.caution}", style="yellow"))
    console.print(f"wrote {result.out}")
