from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import tarfile
import zipfile

import pytest

from daemon import handlers
from daemon.errors import UnsupportedFormat
from daemon.handlers.formats import sniff_archive, text_encoding
from daemon.models import UploadType


def _tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"[default]\n"
        info = tarfile.TarInfo("etc/system/local/inputs.conf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app/default/app.conf", "[ui]\n")
    return buffer.getvalue()


ARCHIVES = {
    "tar": _tar(),
    "tar.gz": gzip.compress(_tar()),
    "tar.bz2": bz2.compress(_tar()),
    "tar.xz": lzma.compress(_tar()),
    "zip": _zip(),
}


@pytest.mark.parametrize("fmt", ARCHIVES)
def test_archive_formats_are_recognised_by_magic_bytes(fmt: str) -> None:
    assert sniff_archive(ARCHIVES[fmt]) == fmt


@pytest.mark.parametrize(
    "upload_type", [UploadType.DS_ETC, UploadType.INSTANCE_ETC, UploadType.APP_BUNDLE]
)
@pytest.mark.parametrize("fmt", ARCHIVES)
def test_archive_types_accept_every_archive_format(upload_type: UploadType, fmt: str) -> None:
    handlers.validate(upload_type, ARCHIVES[fmt])


@pytest.mark.parametrize("upload_type", [UploadType.DS_ETC, UploadType.APP_BUNDLE])
def test_archive_types_reject_text_whatever_the_name(upload_type: UploadType) -> None:
    with pytest.raises(UnsupportedFormat, match="not an archive"):
        handlers.validate(upload_type, b"[monitor:///var/log]\nindex = main\n")


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"[default]\nhost = x\n", "utf-8"),
        ("[s]\nk = caf\u00e9\n".encode(), "utf-8"),
        (b"\xef\xbb\xbf[s]\nk = v\n", "utf-8"),
        ("[s]\nk = v\n".encode("utf-16"), "utf-16-le"),
        (b"[s]\nk = caf\xe9\n", "latin-1"),
    ],
)
def test_single_conf_accepts_decodable_text(data: bytes, encoding: str) -> None:
    assert text_encoding(data) == encoding
    handlers.validate(UploadType.SINGLE_CONF, data)


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8], ids=["no-bom", "bom"])
def test_single_conf_accepts_utf8_cut_in_the_middle_of_a_character(bom: bytes) -> None:
    # The head is the file's first bytes: it may end inside a two-byte character, which is
    # still UTF-8 (not Latin-1, and not refused).
    head = bom + ("[s]\nk = " + "\u00e9" * 10).encode()[:-1]
    assert text_encoding(head) == "utf-8"
    handlers.validate(UploadType.SINGLE_CONF, head)


@pytest.mark.parametrize("data", [b"\x00\x01\x02binary", ARCHIVES["tar.gz"], ARCHIVES["zip"]])
def test_single_conf_rejects_binary_and_archives(data: bytes) -> None:
    with pytest.raises(UnsupportedFormat):
        handlers.validate(UploadType.SINGLE_CONF, data)
