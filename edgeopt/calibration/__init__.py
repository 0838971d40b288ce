"""Calibration: latencies and energies measured (onnxruntime microbenchmarks and node profiles, a board's suite, an
emulated Cortex-M) and a profile's figures fitted to them, written as a calibrated profile."""
