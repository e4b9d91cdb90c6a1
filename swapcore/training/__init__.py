"""The training stage's parts: face data, batched augmentation, losses and the resumable training loop."""
