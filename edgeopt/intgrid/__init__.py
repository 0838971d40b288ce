"""The integer grid: scales, zero points, fixed-point requantization and the integer program a quantized model runs
as. Below both `compress/` (which simulates it in float) and `export/` (which writes it out as QDQ ONNX and C)."""
