"""Zip bombs whose one member declares 100 bytes and inflates to gigabytes, built in well
under a second (issue 9): by the e2e test and by benchmarks/zip_bomb.py.

Compressing 1.5 GiB of zeros takes ~9 s with zlib and ~13 s with bz2, so the compressed
streams are made by repetition instead: deflate segments ended by a full flush (which resets
the compressor, so every segment is the same bytes), and copies of one bzip2 block (blocks
are independent; only the stream's combined CRC is recomputed).
"""

from __future__ import annotations

import bz2
import struct
import zipfile
import zlib
from typing import Final

MiB: Final = 1024 * 1024
BOMB_BYTES: Final = 1536 * MiB  # what the member inflates to: 1.5 GiB of zeros
DECLARED: Final = 100  # what its headers say
_SEGMENT: Final = 16 * MiB
_BZ2_BLOCK_MAGIC: Final = format(0x314159265359, "048b")
_BZ2_END_MAGIC: Final = format(0x177245385090, "048b")


def deflate_zeros(size: int) -> bytes:
    """A raw deflate stream of `size` zeros (a multiple of 16 MiB), ~1,000 times smaller."""
    assert size % _SEGMENT == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = compressor.compress(bytes(_SEGMENT)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return segment * (size // _SEGMENT) + compressor.flush()


def bzip2_zeros(size: int, per_block: int = 32 * MiB) -> bytes:
    """A bzip2 stream of `size` zeros (a multiple of `per_block`): the blocks of one
    compressed `per_block` (it fits in one 900 kB block after bzip2's run-length step),
    repeated bit for bit, then the end marker with the combined CRC of them all."""
    assert size % per_block == 0
    one = bz2.compress(bytes(per_block), 9)
    bits = format(int.from_bytes(one[4:], "big"), f"0{(len(one) - 4) * 8}b")
    block = bits[: bits.rindex(_BZ2_END_MAGIC)]
    assert one[:4] == b"BZh9" and block.count(_BZ2_BLOCK_MAGIC) == 1, "not one bzip2 block"
    block_crc = int(block[48:80], 2)
    combined = 0
    for _ in range(size // per_block):
        combined = (((combined << 1) | (combined >> 31)) & 0xFFFF_FFFF) ^ block_crc
    stream = block * (size // per_block) + _BZ2_END_MAGIC + format(combined, "032b")
    stream += "0" * (-len(stream) % 8)
    return b"BZh9" + int(stream, 2).to_bytes(len(stream) // 8, "big")


def lying_zip(name: str, method: int, stream: bytes, *, declared: int = DECLARED) -> bytes:
    """A zip of one member, `stream` compressed with `method`, whose local header and central
    directory entry both say it is `declared` zeros (size and CRC): zipfile inflates it all,
    keeps the first `declared` bytes, and finds their CRC right."""
    raw_name = name.encode()
    crc = zlib.crc32(bytes(declared))
    version = 46 if method == zipfile.ZIP_BZIP2 else 20
    date = (2026 - 1980) << 9 | 12 << 5 | 4
    local = struct.pack(
        "<4s2B4HL2L2H",
        b"PK\x03\x04",
        version,
        0,
        0,  # flags
        method,
        0,  # time
        date,
        crc,
        len(stream),
        declared,
        len(raw_name),
        0,
    )
    central = struct.pack(
        "<4s4B4HL2L5HLL",
        b"PK\x01\x02",
        version,
        3,  # made on Unix
        version,
        0,
        0,
        method,
        0,
        date,
        crc,
        len(stream),
        declared,
        len(raw_name),
        0,
        0,
        0,
        0,
        0o100644 << 16,  # a regular file
        0,  # its local header's offset
    )
    directory_at = len(local) + len(raw_name) + len(stream)
    directory = central + raw_name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), directory_at, 0)
    return local + raw_name + stream + directory + end


def bomb(method: str, size: int = BOMB_BYTES) -> bytes:
    """The app bundle of issue 9: `bomb.zip`'s default/inputs.conf, `size` zeros said to be
    100 bytes. `method` is "deflate" (~1.5 MB for 1.5 GiB) or "bzip2" (~1.5 KB)."""
    if method == "deflate":
        return lying_zip("bomb/default/inputs.conf", zipfile.ZIP_DEFLATED, deflate_zeros(size))
    if method == "bzip2":
        return lying_zip("bomb/default/inputs.conf", zipfile.ZIP_BZIP2, bzip2_zeros(size))
    raise ValueError(method)
