"""Error types that carry a message meant for a person, not a stack trace."""


class SwapcoreError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero."""


class MediaError(SwapcoreError):
    """A file could not be read or written as media (missing, empty, corrupt, truncated, unsupported)."""


class FrameTooLargeError(MediaError):
    """A video's frames declare more pixels than the caller allows (`media.probe(..., max_pixels=)`)."""

    def __init__(self, name: str, width: int, height: int, max_pixels: int) -> None:
        super().__init__(f"{name}: its frames are {width} x {height} pixels, more than the {max_pixels} allowed")
        self.width, self.height, self.max_pixels = width, height, max_pixels


class AlignmentsError(SwapcoreError):
    """An alignments file is missing, malformed, or of an unknown schema version."""
