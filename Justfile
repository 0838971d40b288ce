# Recipes assume scripts/bootstrap has set up .venv (the README's two commands do both).
set shell := ["bash", "-euo", "pipefail", "-c"]

bin := ".venv/bin"

# The main job on the bundled examples: profile a keyword-spotting CNN on an STM32F746, then gate it like CI would.
demo:
    {{bin}}/edgeopt profiles list
    {{bin}}/edgeopt profile examples/kws_dscnn.onnx --profile stm32f746
    {{bin}}/edgeopt check examples/kws_dscnn.onnx --profile stm32f746 --max-weight-bytes 64KiB --max-latency 20ms --baseline examples/kws_dscnn.budget.json --tolerance 2% --junit out/edgeopt-check.xml
    {{bin}}/edgeopt check examples/models.py:read_classifier --input-shape 1,1,256 --profile sequencer-fpga

# The test suite (CPU only; GPU tests are skipped without a GPU).
test *args:
    {{bin}}/python -m pytest -q {{args}}

# Speed benchmarks; results go into BENCHMARKS.md by hand, with date, machine and command.
bench:
    {{bin}}/python benchmarks/cli_speed.py

# Regenerate the bundled ONNX examples and the example baseline.
examples:
    {{bin}}/python examples/export_examples.py
    {{bin}}/edgeopt check examples/kws_dscnn.onnx --profile stm32f746 --baseline examples/kws_dscnn.budget.json --update-baseline
