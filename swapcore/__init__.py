"""swapcore: the face-swap pipeline (extract, train, convert) and its media I/O."""

__version__ = "0.1.0"
