"""Errors raised across the storage boundary. SDK errors never escape a backend."""


class ArchiveError(Exception):
    """Base class of every archive error."""


class ArchiveUnavailable(ArchiveError):
    """Storage could not be reached or failed; the operation may be retried later."""


class RecordNotFound(ArchiveError):
    """The named object does not exist in the archive."""


class ConcurrentUpdate(ArchiveError):
    """An optimistic-concurrency write lost the race (the ETag no longer matches)."""


class NotSupportedByBackend(ArchiveError):
    """The backend does not implement this capability (e.g. legal hold on an emulator)."""


class InvalidName(ArchiveError, ValueError):
    """A blob name that would escape the archive layout."""
