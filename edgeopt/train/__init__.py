"""Training: the per-trial loop (resumable, budgeted in epochs) and classification metrics."""
