"""The findings tables: what many hosts share is one row naming them."""

from __future__ import annotations

from daemon.docs.entities import FindingGroup, group_findings
from daemon.docs.load import Finding


def test_findings_saying_the_same_thing_are_one_row_worst_first_hosts_by_name() -> None:
    shadowed = ("SHADOWED_SETTING", "info", "inputs:[default] host", "set in two apps")
    findings = [
        Finding(shadowed[0], shadowed[1], "uf2", *shadowed[2:]),
        Finding("APP_UNUSED", "info", None, "app:x", "app x ... of deployment server ds1"),
        Finding(shadowed[0], shadowed[1], "uf1", *shadowed[2:]),
        Finding("DANGLING_OUTPUT", "error", "uf1", "outputs:[tcpout:a]", "no server"),
        Finding(shadowed[0], shadowed[1], "uf2", *shadowed[2:]),  # the same twice: once
        Finding("APP_UNUSED", "info", None, "app:x", "app x ... of deployment server ds2"),
    ]
    assert group_findings(findings) == [
        FindingGroup(
            "error", "DANGLING_OUTPUT", "outputs:[tcpout:a]", "no server", ("uf1",), False
        ),
        FindingGroup("info", "APP_UNUSED", "app:x", "app x ... of deployment server ds1", (), True),
        FindingGroup("info", "APP_UNUSED", "app:x", "app x ... of deployment server ds2", (), True),
        FindingGroup(
            "info",
            "SHADOWED_SETTING",
            "inputs:[default] host",
            "set in two apps",
            ("uf1", "uf2"),
            False,
        ),
    ]
    assert group_findings([]) == []


def test_findings_that_differ_only_by_their_hosts_name_are_one_row_naming_each() -> None:
    def dangling(host: str) -> Finding:
        return Finding(
            "DANGLING_OUTPUT", "error", host, f"outputs:{host}", f"{host} forwards to lb:9997"
        )

    findings = [dangling("web01"), dangling("web02"), dangling("db01.example.com")]
    # a name inside another word is not the host's: web01x stays as it is
    findings.append(Finding("X", "info", "web01", "s", "web01x has web01"))
    assert group_findings(findings) == [
        FindingGroup(
            "error",
            "DANGLING_OUTPUT",
            "outputs:⟨host⟩",
            "⟨host⟩ forwards to lb:9997",
            ("db01.example.com", "web01", "web02"),
            False,
        ),
        FindingGroup("info", "X", "s", "web01x has web01", ("web01",), False),
    ]
    # One host: its own words.
    [alone] = group_findings([dangling("web01")])
    assert (alone.subject, alone.message) == ("outputs:web01", "web01 forwards to lb:9997")
