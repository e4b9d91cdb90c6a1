"""The `faceproof` CLI's stage commands (extract, sort, ...): thin wrappers over the core functions."""
