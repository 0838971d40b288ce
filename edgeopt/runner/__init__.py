"""The runner: a coordinator that hands packs of trials to worker slots (processes, or Ray actors) and records their
results in the study store, which it alone writes. See docs/runner.md."""
