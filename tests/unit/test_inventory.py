"""The inventory reader (daemon.inventory) and the inventory handler: a CSV client list or the
JSON of /services/deployment/server/clients in, host rows and findings out; bad rows are
findings, bombs and files without a usable row are rejected within bounded memory."""

from __future__ import annotations

import codecs
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from daemon import handlers
from daemon.conf.types import Finding
from daemon.domain import UploadType
from daemon.errors import PermanentError, UnsupportedFormat
from daemon.inventory import (
    CHUNK_BYTES,
    DEFAULT_LIMITS,
    HostRow,
    InventoryLimits,
    InventoryRejected,
    read_inventory,
)

Item = HostRow | Finding


def read(data: bytes, limits: InventoryLimits = DEFAULT_LIMITS) -> list[Item]:
    return list(read_inventory(io.BytesIO(data), name="clients.csv", limits=limits))


def rows(items: list[Item]) -> list[HostRow]:
    return [i for i in items if isinstance(i, HostRow)]


def findings(items: list[Item]) -> list[tuple[str, int]]:
    return [(i.code, i.line) for i in items if isinstance(i, Finding)]


def hosts(items: list[Item]) -> list[tuple[int, str | None]]:
    return [(r.row_number, r.hostname) for r in rows(items)]


def rejected(data: bytes, limits: InventoryLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(InventoryRejected) as caught:
        read(data, limits)
    assert isinstance(caught.value, PermanentError)  # the run fails, not retried
    return caught.value.message


# -- CSV -------------------------------------------------------------------------------------

FULL = (
    b"clientName,hostname,ip,dns,guid,utsname,splunkVersion,role\n"
    b"uf-01,web-01,10.0.0.1,web-01.example.com,0A1B2C3D-0000-4000-8000-000000000001,"
    b"linux-x86_64,9.4.3,uf\n"
)


def test_a_csv_with_every_column_gives_one_row_with_every_field() -> None:
    assert read(FULL) == [
        HostRow(
            row_number=1,
            client_name="uf-01",
            hostname="web-01",
            ip="10.0.0.1",
            dns="web-01.example.com",
            guid="0A1B2C3D-0000-4000-8000-000000000001",
            machine_type="linux-x86_64",
            splunk_version="9.4.3",
            role="uf",
        )
    ]


def test_csv_headers_are_case_insensitive_and_other_columns_are_ignored_with_a_finding() -> None:
    data = (
        b"HOSTNAME, Ip ,lastPhoneHomeTime,ClientName,averagePhoneHomeInterval\n"
        b"web-01,10.0.0.1,1700000000,uf-01,60\n"
    )
    items = read(data)
    [row] = rows(items)
    assert (row.hostname, row.ip, row.client_name) == ("web-01", "10.0.0.1", "uf-01")
    [note] = [i for i in items if isinstance(i, Finding)]
    assert (note.code, note.line, note.path) == ("inventory-ignored-columns", 0, "clients.csv")
    assert "lastPhoneHomeTime" in note.message
    assert "averagePhoneHomeInterval" in note.message


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
    ],
)
def test_a_csv_with_a_byte_order_mark_is_read_in_its_encoding(encoding: str, bom: bytes) -> None:
    # Excel's "CSV UTF-8" starts with a BOM, which must not become part of the first name.
    data = bom + "hostname,ip\r\ncaf\u00e9-01,10.0.0.1\r\n".encode(encoding)
    assert hosts(read(data)) == [(1, "caf\u00e9-01")]
    assert findings(read(data)) == []


def test_a_latin1_csv_is_read_as_latin1() -> None:
    assert hosts(read(b"hostname\ncaf\xe9-01\n")) == [(1, "caf\u00e9-01")]


def test_crlf_line_ends_leave_no_carriage_return_in_the_values() -> None:
    data = b"hostname,role\r\nweb-01,uf\r\nweb-02,hf\r\n"
    assert [(r.hostname, r.role) for r in rows(read(data))] == [("web-01", "uf"), ("web-02", "hf")]


def test_quoted_fields_keep_their_commas_quotes_and_line_breaks() -> None:
    data = (
        b'"hostname","dns","role"\n'
        b'"web-01","a.example.com, b.example.com","say ""uf"""\n'
        b'"web-02","multi\nline","uf"\n'
        b'"web-03",,\n'
    )
    items = read(data)
    assert [(r.row_number, r.hostname, r.dns, r.role) for r in rows(items)] == [
        (1, "web-01", "a.example.com, b.example.com", 'say "uf"'),
        (2, "web-02", "multi\nline", "uf"),
        (3, "web-03", None, None),
    ]


def test_values_are_stripped_and_empty_values_are_none() -> None:
    [row] = rows(read(b"hostname,ip,role\n  web-01  ,   , \t\n"))
    assert (row.hostname, row.ip, row.role) == ("web-01", None, None)


def test_a_semicolon_separated_csv_is_read() -> None:
    # Excel writes `;` where the decimal separator is a comma.
    assert hosts(read(b"hostname;ip\nweb-01;10.0.0.1\n")) == [(1, "web-01")]


def test_blank_lines_are_skipped_and_row_numbers_follow_the_file_lines() -> None:
    data = b"\n\nhostname\nweb-01\n\n,\nweb-02\n"
    # The header is on line 3, so web-02 (line 7) is row 4.
    assert hosts(read(data)) == [(1, "web-01"), (4, "web-02")]


def test_a_row_with_the_wrong_number_of_fields_is_a_finding_and_skipped() -> None:
    data = b"hostname,ip\nweb-01,10.0.0.1\nweb-02\nweb-03,10.0.0.3,extra\nweb-04,10.0.0.4\n"
    items = read(data)
    assert hosts(items) == [(1, "web-01"), (4, "web-04")]
    assert findings(items) == [("inventory-column-count", 3), ("inventory-column-count", 4)]


def test_a_row_without_any_identity_is_a_finding_and_skipped() -> None:
    data = b"hostname,ip,utsname,splunkVersion\nweb-01,,,\n,,linux-x86_64,9.4.3\n"
    items = read(data)
    assert hosts(items) == [(1, "web-01")]
    assert findings(items) == [("inventory-no-identity", 3)]


def test_an_ip_that_is_not_an_ip_is_a_finding_and_dropped_from_the_row() -> None:
    data = b"hostname,ip\nweb-01,10.0.0.300\nweb-02,fe80::1\n,not-an-ip\n"
    items = read(data)
    assert [(r.hostname, r.ip) for r in rows(items)] == [("web-01", None), ("web-02", "fe80::1")]
    # The third row had nothing but its bad ip: two findings, and it is skipped.
    assert findings(items) == [
        ("inventory-bad-ip", 2),  # file lines: the header is line 1
        ("inventory-bad-ip", 4),
        ("inventory-no-identity", 4),
    ]
    bad = next(i for i in items if isinstance(i, Finding))
    assert "10.0.0.300" in bad.message


def test_a_duplicate_row_is_a_finding_naming_the_first_and_skipped() -> None:
    data = b"hostname,ip\nweb-01,10.0.0.1\nweb-02,10.0.0.2\nWEB-01 ,10.0.0.1\n"
    items = read(data)
    assert hosts(items) == [(1, "web-01"), (2, "web-02")]
    assert findings(items) == [("inventory-duplicate-row", 4)]
    assert "row 1" in next(i for i in items if isinstance(i, Finding)).message


def test_rows_that_share_an_identity_but_differ_are_both_kept_for_the_resolver() -> None:
    # Identity conflicts are the resolver's (RESOLVER.md §2), not a duplicate row.
    data = b"hostname,splunkVersion\nweb-01,9.2.0\nweb-01,9.4.3\n"
    assert hosts(read(data)) == [(1, "web-01"), (2, "web-01")]


def test_a_repeated_known_column_keeps_the_first_with_a_finding() -> None:
    items = read(b"hostname,HostName\nweb-01,other\n")
    assert hosts(items) == [(1, "web-01")]
    assert findings(items) == [("inventory-duplicate-column", 0)]


def test_a_field_over_the_csv_field_limit_is_a_finding_not_a_failure() -> None:
    huge = b"x" * 200_000  # csv's field_size_limit is 131,072 characters
    data = b'hostname,role\nweb-01,uf\nweb-02,"' + huge + b'"\nweb-03,uf\n'
    items = read(data)
    assert hosts(items) == [(1, "web-01"), (3, "web-03")]
    assert findings(items) == [("inventory-bad-csv", 3)]


def test_a_csv_whose_rows_are_all_bad_is_rejected_with_the_first_problem() -> None:
    message = rejected(b"hostname,ip\n,\n,10.0.0.300\nweb-01\n")
    assert "no usable row" in message
    assert "row 2" in message and "10.0.0.300" in message


def test_a_csv_with_a_header_and_no_rows_is_rejected() -> None:
    assert "no usable row" in rejected(b"hostname,ip\n\n")


def test_a_csv_whose_header_names_no_known_column_is_rejected() -> None:
    message = rejected(b"host,address\nweb-01,10.0.0.1\n")
    assert "names none of the columns" in message and "'host,address'" in message


def test_a_csv_whose_header_names_no_identity_column_is_rejected() -> None:
    assert "no usable row" in rejected(b"utsname,splunkVersion\nlinux-x86_64,9.4.3\n")


def test_a_file_of_white_space_is_rejected() -> None:
    assert "white space" in rejected(b" \n\r\n\t\n")


def test_bytes_that_do_not_decode_become_replacement_characters_with_one_finding() -> None:
    # UTF-8 in the first chunk, a stray Latin-1 byte far behind it.
    data = b"hostname\n" + b"web-01\n" * 20_000 + b"caf\xe9\n"
    items = read(data)
    assert rows(items)[-1].hostname == "caf\ufffd"
    assert findings(items)[-1] == ("inventory-undecodable", 0)


# -- JSON ------------------------------------------------------------------------------------


def endpoint_document(contents: list[Any]) -> bytes:
    """What `GET /services/deployment/server/clients?output_mode=json` answers (the entry's
    content as in Splunk's REST reference example, names and addresses replaced)."""
    return json.dumps(
        {
            "links": {"create": "/services/deployment/server/clients/_new"},
            "origin": "https://ds-01:8089/services/deployment/server/clients",
            "updated": "2025-06-01T12:00:00+00:00",
            "generator": {"build": "abcdef", "version": "9.4.3"},
            "entry": [
                {
                    "name": f"{n:032x}",
                    "id": f"https://ds-01:8089/services/deployment/server/clients/{n:032x}",
                    "updated": "1970-01-01T00:00:00+00:00",
                    "links": {"alternate": f"/services/deployment/server/clients/{n:032x}"},
                    "author": "system",
                    "acl": {"app": "", "owner": "system", "sharing": "system"},
                    "content": content,
                }
                for n, content in enumerate(contents)
            ],
            "paging": {"total": len(contents), "perPage": 30, "offset": 0},
            "messages": [],
        },
        indent=2,
    ).encode()


CLIENT = {
    "applications": {
        "app1": {
            "action": "Install",
            "restartSplunkd": "1",
            "result": "Ok",
            "serverclasses": ["sc_new", "sc_apps"],
            "stateOnClient": "enabled",
        }
    },
    "averagePhoneHomeInterval": "60",
    "build": "172889",
    "clientName": "4D4EA12E-FDBA-41D3-99CD-2A61CC1DAB29",
    "dns": "uf01.example.com",
    "eai:acl": None,
    "guid": "dc95537d0e8fdadc44d00c50fc431e25",
    "hasDeploymentError": "0",
    "hostname": "uf01",
    "ip": "192.0.2.7",
    "lastPhoneHomeTime": "1375375291",
    "mgmt": "8089",
    "name": "uf01-display",
    "serverClasses": {"sc_apps": {"stateOnClient": "enabled"}},
    "splunkVersion": "9.4.3",
    "utsname": "linux-x86_64",
}


def test_the_clients_endpoint_json_gives_a_row_per_entry_from_its_content() -> None:
    items = read(endpoint_document([CLIENT]))
    assert items == [
        HostRow(
            row_number=1,
            client_name="4D4EA12E-FDBA-41D3-99CD-2A61CC1DAB29",
            hostname="uf01",
            ip="192.0.2.7",
            dns="uf01.example.com",
            guid="dc95537d0e8fdadc44d00c50fc431e25",
            machine_type="linux-x86_64",
            splunk_version="9.4.3",
            role=None,
        )
    ]


def test_search_results_json_and_a_bare_array_are_read_too() -> None:
    flat = [{"HostName": "web-01", "IP": "10.0.0.1"}, {"hostname": "web-02"}]
    results = json.dumps({"preview": False, "results": flat}).encode()
    bare = json.dumps(flat).encode()
    for data in (results, bare):
        assert [(r.hostname, r.ip) for r in rows(read(data))] == [
            ("web-01", "10.0.0.1"),
            ("web-02", None),
        ]


def test_json_bad_entries_and_values_are_findings() -> None:
    data = endpoint_document(
        [
            {"hostname": "web-01", "mgmt": 8089, "ip": "10.0.0.1"},
            "not an object",
            {"hostname": ["web-02", "web-2"], "ip": "10.0.0.2"},
            {"hostname": None, "utsname": "linux-x86_64"},
            {"hostname": "web-05", "splunkVersion": 9.4},
        ]
    )
    items = read(data)
    assert [(r.row_number, r.hostname, r.ip, r.splunk_version) for r in rows(items)] == [
        (1, "web-01", "10.0.0.1", None),
        (3, None, "10.0.0.2", None),
        (5, "web-05", None, "9.4"),
    ]
    assert findings(items) == [
        ("inventory-bad-entry", 2),
        ("inventory-bad-value", 3),
        ("inventory-no-identity", 4),
    ]


def test_a_json_object_without_an_entry_list_is_rejected() -> None:
    assert "entry" in rejected(b'{"links": {}, "paging": {"total": 0}}')


def test_a_json_document_with_no_entries_is_rejected() -> None:
    assert "no usable row" in rejected(endpoint_document([]))


@pytest.mark.parametrize(
    "data",
    [
        b'{"entry": [{"content": {"hostname": "web-01"}}',  # cut short
        b'{"entry": [{"content": {"hostname": "web-01"}},, ]}',
        b'{"entry": [{"content": {"hostname": "web-01"}}]} trailing',
        b'{"entry": [{"content": {"hostname": "web-01"}}] "paging": 1}',
    ],
    ids=["truncated", "double-comma", "trailing-data", "missing-comma"],
)
def test_a_broken_json_document_is_rejected_with_where(data: bytes) -> None:
    assert "not a valid JSON document at character" in rejected(data)


class Trickle(io.RawIOBase):
    """A stream that hands out a few bytes at a time (1 to 7, cycling)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.turn = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.turn += 1
        n = min(1 + self.turn % 7, size if size >= 0 else len(self.data))
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_values_cut_at_any_chunk_boundary_read_the_same(kind: str) -> None:
    # Numbers and literals may end where a chunk ends: `60` must not be read as `6`.
    contents = [
        {"hostname": f"web-{n:02d}", "ip": f"10.0.0.{n}", "splunkVersion": 9 + n / 10, "n": n}
        for n in range(1, 40)
    ]
    if kind == "json":
        data = endpoint_document(contents) + b"\n"
    else:
        data = b"hostname,ip,splunkVersion\r\n" + b"".join(
            f'{c["hostname"]},"{c["ip"]}",{c["splunkVersion"]}\r\n'.encode() for c in contents
        )
    whole = read(data)
    assert len(rows(whole)) == 39
    trickled = list(read_inventory(Trickle(data), name="clients.csv"))  # type: ignore[arg-type]
    assert trickled == whole


def test_a_long_json_document_is_read_entry_by_entry_not_whole() -> None:
    data = endpoint_document([CLIENT | {"hostname": f"uf{n:05d}"} for n in range(2_000)])
    assert len(data) > 20 * CHUNK_BYTES
    stream = io.BytesIO(data)
    first = next(i for i in read_inventory(stream) if isinstance(i, HostRow))
    assert first.hostname == "uf00000"
    assert stream.tell() <= 2 * CHUNK_BYTES  # the first row came out of the first chunks


# -- bombs and limits ------------------------------------------------------------------------

SMALL = InventoryLimits(max_record_chars=1_000, max_columns=10, max_rows=5, max_total_bytes=50_000)


class CountingStream(io.RawIOBase):
    """`head`, then `pattern` without end, recording how many bytes each read returned."""

    def __init__(self, head: bytes, pattern: bytes) -> None:
        self.head = head
        self.pattern = pattern
        self.reads: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "the reader asked for everything"
        data, self.head = self.head[:size], self.head[size:]
        data += self.pattern * ((size - len(data)) // len(self.pattern))
        self.reads.append(len(data))
        return data


def test_a_csv_line_over_the_limit_is_rejected() -> None:
    message = rejected(b"hostname,ip\nweb-01," + b"9" * 2_000 + b"\n", SMALL)
    assert "line 2 is longer than 1,000 characters" in message


def test_a_csv_header_over_the_limit_is_rejected() -> None:
    assert "line 1 is longer than" in rejected(b"hostname," + b"x" * 2_000 + b"\n", SMALL)


def test_a_quoted_field_left_open_across_lines_is_rejected_by_the_record_limit() -> None:
    data = b'hostname,role\nweb-01,"open\n' + b"short line\n" * 500
    assert "record (a quoted field left open?)" in rejected(data, SMALL)


def test_a_header_with_more_columns_than_the_limit_is_rejected() -> None:
    header = b"hostname," + b",".join(b"c%d" % n for n in range(10)) + b"\n"
    assert "11 columns, over the limit of 10" in rejected(header + b"web-01" + b"," * 10, SMALL)


def test_a_million_column_header_is_rejected_with_the_default_limits() -> None:
    assert "longer than" in rejected(b"hostname" + b",c" * 1_000_000 + b"\nweb-01\n")


def test_more_rows_than_the_limit_are_rejected_bad_and_blank_rows_included() -> None:
    good = b"hostname\n" + b"".join(b"web-%02d\n" % n for n in range(3))
    assert len(rows(read(good + b"\n,\n", SMALL))) == 3  # five rows: at the limit
    for extra in (b"\n,\n\n", b"\n,\nweb-00\n", b"\n,\nweb-99\n"):  # blank, duplicate, good
        assert "more than 5 rows" in rejected(good + extra, SMALL)


def test_a_file_over_the_byte_limit_is_rejected_by_what_is_read() -> None:
    data = b"hostname\nweb-01" + b" " * 60_000 + b"\n"  # a long line of white space
    assert "more than 48.8281 KiB read" in rejected(data, InventoryLimits(max_total_bytes=50_000))


def test_a_json_entry_over_the_limit_is_rejected() -> None:
    data = endpoint_document([{"hostname": "web-01", "notes": "x" * 2_000}])
    assert "entry 1 (at character" in rejected(data, SMALL)


def test_a_huge_json_value_outside_the_entries_is_rejected() -> None:
    data = b'{"origin": "' + b"x" * 5_000 + b'", "entry": []}'
    assert "the value of 'origin'" in rejected(data, SMALL)


def test_deeply_nested_json_is_rejected_not_a_crash() -> None:
    assert "nested too deeply" in rejected(b'{"entry": [' + b"[" * 200_000 + b"]}")


def test_json_entries_beyond_the_row_limit_are_rejected() -> None:
    data = endpoint_document([{"hostname": f"web-{n}"} for n in range(6)])
    assert "more than 5 rows" in rejected(data, InventoryLimits(max_rows=5))


@pytest.mark.parametrize(
    ("head", "pattern", "what"),
    [
        (b"hostname,ip\nweb-01,", b"9" * 4096, "line 2 is longer"),
        (b"hostname", b",c" * 2048, "line 1 is longer"),
        (b'{"entry": [{"content": {"hostname": "', b"x" * 4096, "entry 1"),
        (b"hostname\n", (b"," * 99 + b"\n") * 40, "read"),  # empty rows: the byte limit
    ],
    ids=["csv-line", "csv-columns", "json-entry", "empty-rows"],
)
def test_an_endless_bomb_is_read_in_bounded_chunks_and_stopped_early(
    head: bytes, pattern: bytes, what: str
) -> None:
    limits = InventoryLimits(max_total_bytes=8 * 1024 * 1024)
    stream = CountingStream(head, pattern)
    with pytest.raises(InventoryRejected, match=what):
        list(read_inventory(stream, limits=limits))  # type: ignore[arg-type]
    assert max(stream.reads) <= CHUNK_BYTES
    # Stopped within a chunk of the limit that caught it: the record limit (1 MiB) for the
    # first three, the byte limit (8 MiB) for the blank lines.
    caught_by = limits.max_total_bytes if what == "read" else limits.max_record_chars
    assert sum(stream.reads) <= caught_by + 2 * CHUNK_BYTES


_RSS_PROBE = textwrap.dedent(
    """
    import json, resource, sys
    from daemon.inventory import InventoryRejected, read_inventory
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(sys.argv[1], "rb") as f:
        try:
            for _ in read_inventory(f):
                pass
            outcome = "accepted"
        except InventoryRejected as exc:
            outcome = exc.message
        read = f.tell()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"outcome": outcome, "read": read, "grew_kib": after - before}))
    """
)


def test_a_200_mb_single_line_csv_fails_with_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.csv"
    block = b"x" * (1024 * 1024)
    with bomb.open("wb") as f:  # streamed to disk: never 200 MB in this process
        f.write(b"hostname,")
        for _ in range(200):
            f.write(block)
    assert bomb.stat().st_size > 200 * 1024 * 1024
    probe = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(bomb)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(probe.stdout)
    assert "line 1 is longer than 1,048,576 characters" in result["outcome"]
    assert result["read"] <= 2 * 1024 * 1024  # stopped after the limit, not at the end
    assert result["grew_kib"] < 32 * 1024  # peak RSS grew by less than 32 MiB


# -- the handler (ingestion: the head of the file) -------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        FULL,
        b"\xef\xbb\xbfHostName;IP\r\nweb-01;10.0.0.1\r\n",
        "hostname,ip\n".encode("utf-16"),
        b"Hostname" + b",other" * 20_000,  # the first line goes on past the head
        endpoint_document([CLIENT]),
        endpoint_document([CLIENT] * 100)[:3000],  # the head ends inside an entry
        b'  {"preview": false, "results": [{"hostname": "web-01"}]}',
        b'[{"hostname": "web-01"}]',
    ],
    ids=[
        "csv",
        "csv-bom-semicolon",
        "csv-utf16",
        "csv-long-header",
        "json-endpoint",
        "json-cut",
        "json-results",
        "json-array",
    ],
)
def test_the_inventory_handler_accepts_a_client_list(head: bytes) -> None:
    handlers.validate(UploadType.INVENTORY, head)


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (bytes(range(256)) * 4, "binary content"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 100, "an archive"),
        (b"PK\x03\x04" + b"\x00" * 100, "an archive"),
        (b"[monitor:///var/log]\nindex = main\n", "neither a CSV header"),
        (b"host,address\nweb-01,10.0.0.1\n", "names none of the columns"),
        (b'{"links": {}, "paging": {"total": 0}}', 'without an "entry" list'),
        (b"[1, 2, 3]", "nor a JSON array of objects"),
    ],
    ids=["binary", "gzip", "zip", "conf", "unknown-columns", "json-other", "json-numbers"],
)
def test_the_inventory_handler_refuses_what_is_not_a_client_list(head: bytes, reason: str) -> None:
    with pytest.raises(UnsupportedFormat, match=reason):
        handlers.validate(UploadType.INVENTORY, head)


def test_the_inventory_module_and_handler_import_no_database_code() -> None:
    probe = (
        "import json, sys\n"
        "import daemon.inventory, daemon.handlers.inventory\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(result.stdout)
    assert [m for m in loaded if m.split(".")[0] in ("sqlalchemy", "psycopg", "boto3")] == []
    assert "daemon.models" not in loaded
