"""Deployment: the artifacts a firmware build consumes (ONNX, float or QDQ; C99 from the integer program) and their
behaviour measured where they run (onnxruntime, the host's C compiler, an emulated Cortex-M)."""
