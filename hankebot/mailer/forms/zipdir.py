"""Each attachment's zip central directory read once per message.

Sniffing an attachment's type, the zip-safety scan, the .docx body reader, the cost form's quick formula
check and the ASiC-E mimetype probe each opened `zipfile.ZipFile(io.BytesIO(data))`, which reads and
decodes the whole central directory every time (a ZipInfo per member). Inside `read_once()` `zip_of(data)`
reads it the first time, as ZipFile does, and gives every later caller a ZipFile built from the same
directory: the same archive comment, start of the central directory and ZipInfo entries (in order, the last
of a repeated name in NameToInfo), so every method answers as on a fresh ZipFile. A directory that fails to
read is not remembered: each caller gets the same exception afresh. Outside `read_once()` and for the
reference readers it is the plain ZipFile. The shared ZipInfo entries are read, never changed, by the
readers (reading a member does not change its entry).
"""
from __future__ import annotations

import io
import zipfile

from hankebot.mailer.forms.memo import active, memoised
from hankebot.mailer.reference import in_reference


class KnownDirectoryZip(zipfile.ZipFile):
    """A ZipFile (read mode) over `data` whose central directory is given instead of read again."""

    def __init__(self, data: bytes, directory: tuple) -> None:
        self._known_directory = directory
        super().__init__(io.BytesIO(data))

    def _RealGetContents(self) -> None:  # noqa: N802 - zipfile's name
        comment, start_dir, infos = self._known_directory
        self._comment = comment
        self.start_dir = start_dir
        for x in infos:
            self.filelist.append(x)
            self.NameToInfo[x.filename] = x


def read_directory(data: bytes) -> tuple:
    """(archive comment, start of the central directory, ZipInfo entries) as ZipFile reads them; raises as
    ZipFile raises."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    return zf._comment, zf.start_dir, tuple(zf.filelist)


def directory_of(data: bytes) -> tuple | None:
    """The archive's directory, read once inside `read_once()`; None outside one or for the reference
    readers (then the caller opens a plain ZipFile)."""
    if not active() or in_reference():
        return None
    return memoised("zip_directory", data, "", lambda: read_directory(data))


def zip_of(data: bytes) -> zipfile.ZipFile:
    """`zipfile.ZipFile(io.BytesIO(data))`, its directory read once per `read_once()` block."""
    directory = directory_of(data)
    if directory is None:
        return zipfile.ZipFile(io.BytesIO(data))
    return KnownDirectoryZip(data, directory)
