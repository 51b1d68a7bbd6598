"""An event file writer that knows which records reached the disk.

TensorFlow's summary writer reports nothing when a write fails: on a full disk `flush()` returns
and the records are gone. This writer frames each record itself (TFRecord: length, CRC32C, data,
CRC32C), writes it whole and flushes, so a failed write raises here. A partly written record is
cut off again (local files) or left as the file's last, incomplete record, which readers skip; the
next record starts a new file. A file left without a record (its header failed on a full disk) is
removed. A file that disappears (a deleted logdir) is noticed at the next `check()`, and what it
held is reported as lost. The caller counts and reports the losses.

Files are named like TensorFlow's (``events.out.tfevents.<time>.<host>.<pid>.<n>.v2``, <n>
zero-padded: TensorBoard reads a run's files in name order, so a later file of the same second
must sort after an earlier one) and go through ``tf.io.gfile`` (`tb_featviz.gfile`), so any file
system TensorFlow knows (gs://, ram://, ...) works; without TensorFlow, TensorBoard's own gfile
writes local files.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Optional

from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

from tb_featviz import gfile

_FILE_COUNTER = [0]


class WriteFailed(Exception):
    """A record did not reach the event file; the message says why."""


class EventFileWriter:
    """Appends events to an event file in `logdir`, one whole record per write."""

    def __init__(self, logdir: str):
        self.logdir = logdir
        self.path: Optional[str] = None
        self._file = None
        self._size = 0  # bytes known to be in the file
        self._records = 0  # records in the current file

    def write(self, event: event_pb2.Event) -> None:
        """Write one event; raises WriteFailed (and leaves no partial record behind locally)."""
        data = _frame(event.SerializeToString())
        if self._file is None:
            self._open()
        try:
            self._file.write(data)
            self._file.flush()
        except Exception as error:
            self._abandon()
            raise WriteFailed(_reason(error)) from None
        self._size += len(data)
        self._records += 1

    def open(self) -> None:
        """Create the event file now (raises WriteFailed): a log directory that cannot be
        written is found before any work, not after it."""
        if self._file is None:
            self._open()

    def check(self) -> int:
        """Records lost because the current file vanished (0 if it is there); the next write
        starts a new file."""
        if self.path is None or gfile.for_path(self.path).exists(self.path):
            return 0
        lost = self._records
        self._abandon(truncate=False)
        return lost

    def close(self) -> None:
        """Close the file; one that holds no record (opened early, then nothing written) goes."""
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None
                if self._records == 0:
                    _remove(self.path)

    def _open(self) -> None:
        self._size = self._records = 0
        try:
            files = gfile.for_path(self.logdir)
            files.makedirs(self.logdir)
            _FILE_COUNTER[0] += 1
            name = "events.out.tfevents.%010d.%s.%d.%08d.v2" % (
                time.time(), socket.gethostname(), os.getpid(), _FILE_COUNTER[0],
            )
            self.path = os.path.join(self.logdir, name)
            self._file = files.GFile(self.path, "wb")
            header = _frame(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
            self._file.write(header)
            self._file.flush()
            self._size = len(header)
        except Exception as error:
            self._abandon()
            raise WriteFailed(_reason(error)) from None

    def _abandon(self, truncate: bool = True) -> None:
        """Give up the current file after a failure: close it, cut a partial record off a local
        file, remove it if it holds no record (one empty file per failed write on a full disk
        otherwise), and write the next record to a new file."""
        file, path, size = self._file, self.path, self._size
        self._file = None
        self.path = None
        if file is not None:
            try:
                file.close()
            except Exception:
                pass
        if not truncate or not path:
            return
        if self._records == 0:
            _remove(path)
        elif "://" not in path:
            try:
                if os.path.getsize(path) > size:
                    os.truncate(path, size)
            except (OSError, ValueError):
                pass


def _remove(path: Optional[str]) -> None:
    """Remove an event file that holds no record (a header alone, or nothing): TensorBoard would
    list it, and a full disk would leave one per failed write."""
    if not path:
        return
    try:
        if "://" in path:
            gfile.for_path(path).remove(path)
        else:
            os.remove(path)
    except Exception:  # noqa: BLE001 - already failing or gone: nothing more to say
        pass


def _frame(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


def _reason(error: Exception) -> str:
    """One line: 'No space left on device' rather than a TensorFlow status dump."""
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    return text.strip().splitlines()[0][:200]
