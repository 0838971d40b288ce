"""The integer grid: scales, zero points, fixed-point requantization and the integer program a quantized model runs
as. Below `compression` (which simulates it in float) and `deploy` (which lowers a QDQ ONNX file to it and writes
it out as C)."""
