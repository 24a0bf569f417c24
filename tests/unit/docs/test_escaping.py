"""Names and values from bundles are untrusted: every page shows them as text."""

from __future__ import annotations

from daemon.docs.load import Host
from daemon.docs.site import Names, environment, why_text

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
    text = why_text({"result": "member", "why": {"whitelist": {"entry": entry}}})
    assert EVIL in text  # escaped by the template, not twice
