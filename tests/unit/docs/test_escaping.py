"""Names and values from bundles are untrusted: every page shows them as text."""

from __future__ import annotations

from markupsafe import escape

from daemon.docs.load import Host
from daemon.docs.names import Names
from daemon.docs.site import environment
from daemon.resolve.types import why_sentence

EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def test_a_link_escapes_the_name_and_points_at_its_slug_page() -> None:
    names = Names({"host": [EVIL], "app": []})
    link = names.linker("../")("host", EVIL)
    assert "<script>" not in link and "<img" not in link
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in link
    assert (
        'href="../hosts/~3Cscript~3Ealert~281~29~3C~2Fscript~3E~22~3E~3Cimg~20src~3Dx~20onerror~3Dalert~282~29~3E.html"'
        in link
    )
    # A name without a page is text, never a link.
    assert str(names.linker("")("app", EVIL)) == (
        "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(2)&gt;"
    )


def test_every_template_escapes_what_it_is_given() -> None:
    env = environment()
    names = Names(
        {"host": [EVIL], "serverclass": [EVIL], "app": [EVIL], "index": [], "sourcetype": []}
    )
    host = Host(1, EVIL, EVIL, EVIL, None, None, None, None, None, "uf", None, None, (EVIL,))
    html = env.get_template("hosts.html.j2").render(
        root="",
        resolution_id=1,
        link=names.linker(""),
        href=names.hrefer(""),
        subject=names.subject(""),
        heading=None,
        title=EVIL,
        rows=[(host, [EVIL], 1, 2, 3)],
    )
    assert "<script>alert" not in html and "<img src=x" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # title, heading, cells


def test_why_is_plain_text_for_the_template_to_escape() -> None:
    entry = {
        "stanza": "serverClass:x",
        "key": "whitelist.0",
        "pattern": EVIL,
        "attribute": "dns",
        "value": EVIL,
    }
    text = why_sentence({"result": "member", "why": {"whitelist": {"entry": entry}}})
    assert EVIL in text  # escaped by the template, not twice


def test_a_host_pages_string_built_parts_escape_what_they_are_given() -> None:
    import json

    from daemon.docs.hostconfig import ConfView, HostConfig, InputRow
    from daemon.docs.hostpage import HostFragments, data_table
    from daemon.docs.load import Final, Walk

    names = Names({"host": [EVIL], "app": [EVIL], "index": [EVIL], "sourcetype": [EVIL]})
    fragments = HostFragments(names.linker("../"), lambda run: escape(f"bundle {EVIL}"))
    evidence = [
        {"conf": EVIL, "stanza": EVIL, "key": EVIL, "value": EVIL, "file": EVIL, "line": 1}
        | {"app": EVIL, "run": None}
    ]
    walk = Walk(7, ((EVIL, EVIL, EVIL, EVIL),), (Final(EVIL, EVIL, EVIL, EVIL),), True)
    path = {
        "input": EVIL,
        "index": EVIL,
        "sourcetype": "other",
        "host_field": EVIL,
        "source": EVIL,
        "groups": json.dumps([EVIL]),
        "walk": walk,
        "own_evidence": json.dumps(evidence),
        "walk_evidence": json.dumps(evidence),
    }
    config = HostConfig(
        (ConfView(EVIL, escape(EVIL), 1, 0),), (InputRow(EVIL, False, EVIL, EVIL, EVIL),)
    )
    inputs = fragments.inputs(config)
    finding = {"severity": EVIL, "code": EVIL, "subject": EVIL, "message": EVIL}
    parts = [
        fragments.paths([path, {**path, "input": "second"}]),
        inputs,
        HostFragments.config_texts(config),
        HostFragments.config_summary(config, EVIL),
        fragments.findings([finding | {"evidence": evidence}], names.subject("../")),
        data_table([EVIL], [[str(escape(EVIL))]]),
    ]
    for html in parts:
        assert "<script>" not in html and "<img" not in html, html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The second path of the same route links to the first's evidence instead of repeating it:
    # the first's title, own and route rows, the second's own row.
    assert 'href="#route-1"' in parts[0] and parts[0].count("<code>&lt;script") == 4


def test_characters_that_reorder_or_hide_text_show_as_escapes() -> None:
    from daemon.docs.site import environment

    page = environment().from_string("<td>{{ name }} is not in any class</td>")
    assert page.render(name="rtl\u202egnp.exe\u200b<i>") == (
        "<td>rtl\\u202egnp.exe\\u200b&lt;i&gt; is not in any class</td>"
    )
