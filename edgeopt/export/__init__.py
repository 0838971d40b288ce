"""Artifacts a firmware build consumes: ONNX (float, or integer as QDQ) and their measured behaviour in onnxruntime."""
