"""Chain of custody: an append-only, Merkle-checkpointed log of everything done to an asset."""
