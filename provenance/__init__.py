"""provenance: signing keys, C2PA manifests, invisible watermark and chain-of-custody log."""
