# Recipes assume scripts/bootstrap has set up .venv (the README's two commands do both).
set shell := ["bash", "-euo", "pipefail", "-c"]

bin := ".venv/bin"

# The main job on the bundled example: search 1-D CNNs for the sequencer FPGA (at most 4,000 parameters) and an
# STM32F746 on the bundled sequencer-reads data, report precision/recall against size, then gate a model like CI would.
demo:
    {{bin}}/edgeopt search --profile sequencer-fpga --profile stm32f746 --space searchspace/cnn1d.yaml --trials 16 --name demo --compress examples/pipelines/int8.yaml
    {{bin}}/edgeopt profile examples/kws_dscnn.onnx --profile stm32f746 --summary
    {{bin}}/edgeopt check examples/kws_dscnn.onnx --profile stm32f746 --max-weight-bytes 64KiB --max-latency 20ms --baseline examples/kws_dscnn.budget.json --tolerance 2% --junit out/edgeopt-check.xml

# The bundled example on a microcontroller: search 1-D CNNs for an STM32F746, compress the front to int8, export the
# most accurate as C, and run the test split on an emulated Cortex-M4 (needs gcc-arm-none-eabi, qemu-system-arm).
firmware:
    {{bin}}/edgeopt search --profile stm32f746 --space searchspace/cnn1d.yaml --trials 16 --name firmware --compress examples/pipelines/int8.yaml
    {{bin}}/edgeopt export runs/firmware --profile stm32f746 --format c -o out/firmware-c --data reads --emulate cortex-m4
    make -s -C examples/firmware MODEL_DIR="$PWD/out/firmware-c" && examples/firmware/app && rm examples/firmware/app

# The bundled example on the lab instrument's FPGA: search 1-D CNNs that fit the sequencer FPGA's engine (at most
# 4,000 parameters, 20 us at 250 MHz), quantize the front to the profile's formats, export the recommended model as
# Verilog at the fewest lanes meeting the budget, run the test split in Icarus Verilog, synthesize it for xc7 (LUTs,
# flip-flops, DSP slices, block RAM) and gate it against the profile (needs iverilog and yosys).
fpga:
    {{bin}}/edgeopt search --profile sequencer-fpga --space searchspace/cnn1d.yaml --trials 16 --name fpga --compress examples/pipelines/int8.yaml
    {{bin}}/edgeopt export runs/fpga --profile sequencer-fpga --format verilog -o out/fpga-verilog --data reads --synth xc7
    {{bin}}/edgeopt check out/fpga-verilog --profile sequencer-fpga --junit out/fpga-check.xml

# Lint, then the test suite (CPU only; GPU tests are skipped without a GPU).
test *args:
    {{bin}}/ruff check edgeopt tests benchmarks examples
    {{bin}}/python -m pytest -q {{args}}

# Every benchmark BENCHMARKS.md cites (CPU; `benchmarks/gpu_check.sh` and `runner.py --device cuda` need a GPU);
# results go into BENCHMARKS.md by hand, with date, machine and command. Extras come from scripts/bootstrap.
bench:
    {{bin}}/python benchmarks/cli_speed.py
    {{bin}}/python benchmarks/learning_curves.py --configs 100 --seed 1
    {{bin}}/python benchmarks/trial_speed.py --configs 12
    {{bin}}/python benchmarks/real_data.py --budget 300 --jobs 2 --runs runs/real-data-$(date +%Y%m%d-%H%M%S)
    {{bin}}/python benchmarks/search_efficiency.py --budget 150 --seeds 0 1 2 3 4 --jobs 2 --methods mo-asha random --runs runs/bench-paired
    {{bin}}/python benchmarks/search_efficiency.py --budget 150 --seeds 0 1 2 --jobs 2 --runs runs/bench-all
    {{bin}}/python benchmarks/asha_replay.py --seeds 0 1 2 3 4 5 --configs 200 --jobs 2 --eta 3 4
    {{bin}}/python benchmarks/runner.py --family mlp --sets 4k one-structure sampled --trials 64 --pack 32 --alone-s 10
    {{bin}}/python benchmarks/runner.py --family cnn1d --sets one-structure sampled --trials 16 --pack 1 --alone-s 15 --methods workers
    {{bin}}/python benchmarks/runner_memory.py --trials 1000
    {{bin}}/python benchmarks/search_efficiency.py --budget 90 --seeds 0 1 2 3 4 --jobs 1 --methods default --runs runs/bench-runner-$(date +%Y%m%d-%H%M%S)
    {{bin}}/python benchmarks/compression.py --part ptq --reads-samples 12000
    {{bin}}/python benchmarks/compression.py --part fpga
    {{bin}}/python benchmarks/compression.py --part prune
    {{bin}}/python benchmarks/runner.py --search 30 --rounds 3 --family cnn1d
    {{bin}}/python benchmarks/asha_replay.py --seeds 0 1 2 3 --configs 180 --budget 240 --eta 2 3 4
    rm -rf runs/bench-export && {{bin}}/python benchmarks/export.py --trials 16 --runs runs/bench-export
    {{bin}}/python benchmarks/latency.py --trials 16 --runs runs/bench-export
    {{bin}}/python benchmarks/latency_board.py --runs runs/bench-export
    {{bin}}/python benchmarks/latency_large.py --calibrate runs/bench-host-calibrated.yaml
    {{bin}}/python benchmarks/long_series.py --seeds 0 1 2
    for d in trace pickup_gesture_z japanese_vowels basic_motions; do {{bin}}/python benchmarks/long_series.py --data ../shared/datasets/$d.npz --seeds 0 1 2; done
    {{bin}}/python benchmarks/long_series.py --norm "per series" --pooling avgmax masked --seeds 0 1 2
    {{bin}}/python benchmarks/generated_kernels.py
    {{bin}}/python benchmarks/real_data.py --budget 300 --jobs 2 --profile stm32f746 --runs runs/real-data-mcu-$(date +%Y%m%d-%H%M%S)
    {{bin}}/python benchmarks/real_data.py --budget 300 --jobs 2 --profile stm32f746 --only basic_motions japanese_vowels pickup_gesture_z trace plaid --space cnn1d=searchspace/rocket.yaml --runs runs/real-data-rocket-$(date +%Y%m%d-%H%M%S)

# Regenerate the bundled ONNX examples and the example baseline.
examples:
    {{bin}}/python examples/export_examples.py
    {{bin}}/edgeopt check examples/kws_dscnn.onnx --profile stm32f746 --baseline examples/kws_dscnn.budget.json --update-baseline
