"""Loading models weights-only: search checkpoints, torch.export programs (an allow-list of members), factories."""
