"""PyTorch modules and training for drafters (draft LM, adapter, heads). Export-time only."""
