"""hash_stream reads big files with a read-ahead thread: same digest, errors from either side
reach the caller, and the thread never outlives the call."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest

from daemon import storage
from daemon.storage import hash_stream


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 7 bytes, and read-ahead for everything of 1 byte or more."""
    monkeypatch.setattr(storage, "CHUNK_BYTES", 7)
    monkeypatch.setattr(storage, "READ_AHEAD_MIN_BYTES", 1)


def read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "read-ahead"]


@pytest.mark.parametrize("size", [1, 6, 7, 8, 21, 1000])
def test_read_ahead_gives_the_digest_and_size_of_the_file(
    tiny_chunks: None, tmp_path: Path, size: int
) -> None:
    data = bytes(range(256)) * 4
    path = tmp_path / "f"
    path.write_bytes(data[:size])
    chunks: list[bytes] = []
    with open(path, "rb", buffering=0) as source:
        digest, n = hash_stream(source, lambda chunk: chunks.append(bytes(chunk)))
    assert (digest, n) == (hashlib.sha256(data[:size]).hexdigest(), size)
    assert b"".join(chunks) == data[:size]
    assert read_ahead_threads() == []


class FailingFile(io.FileIO):
    """A real file (so it is big enough for read-ahead) whose third read fails."""

    reads = 0

    def readinto(self, buffer: object) -> int:  # type: ignore[override]
        self.reads += 1
        if self.reads == 3:
            raise OSError(5, "Input/output error")
        return super().readinto(buffer)  # type: ignore[arg-type]


def test_a_read_error_in_the_read_ahead_thread_reaches_the_caller(
    tiny_chunks: None, tmp_path: Path
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    with FailingFile(path) as source, pytest.raises(OSError, match="Input/output"):
        hash_stream(source)
    assert read_ahead_threads() == []


def test_a_failing_sink_stops_the_read_ahead_thread(tiny_chunks: None, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)

    def full_disk(chunk: memoryview) -> None:
        raise OSError(28, "No space left on device")

    with open(path, "rb", buffering=0) as source, pytest.raises(OSError, match="No space"):
        hash_stream(source, full_disk)
    assert read_ahead_threads() == []
