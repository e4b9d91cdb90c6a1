"""Faces: detection (plugins), alignment, quality scores, identity embeddings and tracking."""
