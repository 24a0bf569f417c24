"""The exception hierarchy and the exit codes the command line returns.

    AutodocError
    ├── ConfigError                 invalid or missing configuration (exit 2)
    ├── TransientError              retry later; the claimed file stays claimed
    │   ├── ServiceUnavailable      nothing more is claimed until it is back (exit 3)
    │   │   ├── DatabaseUnavailable
    │   │   ├── StorageUnavailable
    │   │   └── InboxUnavailable
    │   └── ItemDeferred            only this file waits; the others go on
    │       ├── SourceChanged       the file changed while it was read, or is still open
    │       ├── BlobMissing         a finished run's blob is gone and cannot be put back
    │       ├── UploadRejected      the store rejected a body its checksum did not match
    │       └── FailedPathUnavailable
    ├── PermanentError              the item is bad; its run ends `failed` (exit 1)
    │   ├── EmptyFile
    │   ├── FileTooLarge
    │   ├── UnsupportedFormat
    │   ├── UnreadableFile
    │   └── BadFileName
    ├── Refused                     not a regular, singly-linked file: never opened, left in place
    ├── SchemaError                 `db check` found the database unlike the schema
    └── RunNotFound                 no run with that id (exit 2)

Each class docstring is its default message.
"""

from __future__ import annotations

# Exit codes (named as dramatiq does: RET_*).
RET_OK = 0
RET_ITEM_FAILED = 1
RET_USAGE = 2
RET_UNAVAILABLE = 3


class AutodocError(Exception):
    """splunk-autodoc error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(AutodocError):
    """Invalid configuration."""


class TransientError(AutodocError):
    """A temporary condition; the operation can be retried."""


class ServiceUnavailable(TransientError):
    """A service every file needs is unavailable."""


class DatabaseUnavailable(ServiceUnavailable):
    """The database is unreachable."""


class StorageUnavailable(ServiceUnavailable):
    """The blob store is unreachable or full."""


class InboxUnavailable(ServiceUnavailable):
    """The inbox folder cannot be read or prepared."""


class ItemDeferred(TransientError):
    """This file cannot be finished now; it stays claimed and is retried."""


class SourceChanged(ItemDeferred):
    """The file changed while it was being read, or a writer still has it open."""


class BlobMissing(ItemDeferred):
    """A finished run's blob is missing from the store and cannot be put back from the claimed
    file: the file is kept claimed, as the last copy."""


class UploadRejected(ItemDeferred):
    """The blob store rejected the upload: the body it received did not match its checksum
    (BadDigest). Nothing was stored; the file is sent again on a later pass."""


class FailedPathUnavailable(ItemDeferred):
    """The failed file cannot be moved to failed_path."""


class PermanentError(AutodocError):
    """The file cannot be ingested."""


class EmptyFile(PermanentError):
    """the file is empty"""


class FileTooLarge(PermanentError):
    """the file is larger than max_file_bytes"""


class UnsupportedFormat(PermanentError):
    """the content is not a supported format for its upload type"""


class UnreadableFile(PermanentError):
    """the file cannot be read"""


class BadFileName(PermanentError):
    """the file name cannot be recorded"""


class Refused(AutodocError):
    """Not a regular file with a single link; refused without being opened."""


class SchemaError(AutodocError):
    """The database schema does not match the expected schema."""


class RunNotFound(AutodocError):
    """No such run."""
