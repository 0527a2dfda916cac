"""Exceptions raised by obscura: one class per error kind of the Rust core.

Every class derives from :class:`ObscuraError` and carries ``kind`` (the
core's stable kind name, e.g. ``"not_media"``) and ``path`` (the file the
error is about, or ``None``). The message is the same one line the CLI
prints. Where a built-in exception means the same thing, the class derives
from it too, so ``except FileNotFoundError`` and ``except ValueError`` work.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "BY_KIND",
    "ObscuraError",
    "NotFoundError",
    "IoError",
    "AlreadyExistsError",
    "NotMediaError",
    "NoVideoError",
    "CorruptError",
    "UnsupportedError",
    "EncodeError",
    "InvalidArgumentError",
    "OnnxRuntimeError",
    "ModelError",
    "DatabaseError",
    "CancelledError",
]


class ObscuraError(Exception):
    """Base class of every error obscura raises."""

    kind: str = "error"
    path: Optional[str] = None


class NotFoundError(ObscuraError, FileNotFoundError):
    """A file or directory that was named does not exist."""


class IoError(ObscuraError, OSError):
    """Reading or writing failed (permissions, full disk, unwritable folder)."""


class AlreadyExistsError(ObscuraError, FileExistsError):
    """An output or record already exists: nothing is replaced unless asked."""


class NotMediaError(ObscuraError):
    """The file is not a media file FFmpeg recognises."""


class NoVideoError(ObscuraError):
    """The file is media but has no video stream."""


class CorruptError(ObscuraError):
    """The media is damaged: truncated, or a corrupt stream."""


class UnsupportedError(ObscuraError):
    """The media is valid but uses something obscura does not handle."""


class EncodeError(ObscuraError):
    """Encoding or writing the output failed."""


class InvalidArgumentError(ObscuraError, ValueError):
    """An option or argument is out of its valid range."""


class OnnxRuntimeError(ObscuraError):
    """ONNX Runtime is missing or cannot be loaded (run scripts/setup.sh)."""


class ModelError(ObscuraError):
    """A model is missing, corrupt, or not the model expected."""


class DatabaseError(ObscuraError):
    """The incident index cannot be opened, read or written."""


class CancelledError(ObscuraError):
    """The work was cancelled before it finished; nothing partial was kept."""


#: The exception class of each error kind of the core, by its stable name
#: (``ErrorKind::as_str``). A test checks it against the core's one list,
#: ``obscura._obscura.ERROR_KINDS``.
BY_KIND: Dict[str, Type[ObscuraError]] = {
    "not_found": NotFoundError,
    "io": IoError,
    "already_exists": AlreadyExistsError,
    "not_media": NotMediaError,
    "no_video": NoVideoError,
    "corrupt": CorruptError,
    "unsupported": UnsupportedError,
    "encode": EncodeError,
    "invalid_argument": InvalidArgumentError,
    "runtime": OnnxRuntimeError,
    "model": ModelError,
    "database": DatabaseError,
    "interrupted": CancelledError,
}

for _kind, _cls in BY_KIND.items():
    _cls.kind = _kind
del _kind, _cls
