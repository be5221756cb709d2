"""Training: windows -> sampled subgraphs -> losses -> AdamW; checkpoints; DDP."""
from .checkpoint import describe, load_model
from .loop import Context, train

__all__ = ["Context", "train", "describe", "load_model"]
