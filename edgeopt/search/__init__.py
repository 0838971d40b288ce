"""Hardware-aware search: study over Optuna storage, MO-ASHA scheduler, Pareto utilities."""
