"""Error types that carry a message meant for a person, not a stack trace."""


class SwapcoreError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero."""


class MediaError(SwapcoreError):
    """A file could not be read or written as media (missing, empty, corrupt, truncated, unsupported)."""


class AlignmentsError(SwapcoreError):
    """An alignments file is missing, malformed, or of an unknown schema version."""
