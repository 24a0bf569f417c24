"""How pages name bundles (daemon.docs.names.RunNames): by type and label, never by run id,
and an unlabelled instance tree by the host it belongs to."""

from __future__ import annotations

from markupsafe import Markup

from daemon.docs.names import RunNames


def _link(kind: str, name: str | None) -> Markup:
    return Markup('<a href="{}/{}.html">{}</a>').format(kind, name, name)


def test_bundles_are_named_by_type_and_label_and_an_unlabelled_tree_by_its_host() -> None:
    runs = [("ds_etc", "ds1", 7), ("instance_etc", "idx01", 8), ("instance_etc", "", 9)]
    names = RunNames(runs, {8: "idx01", 9: "uf-web01"})
    name = names.namer(_link)
    assert name(7) == "ds_etc ds1"
    assert name(8) == 'instance_etc <a href="host/idx01.html">idx01</a>'
    assert name(9) == 'instance_etc <a href="host/uf-web01.html">uf-web01</a>'
    assert name(None) == "shipped"
    assert name(99) == "run 99"  # a run the resolution did not read
    assert names.source("inventory:run 7 row 3") == "ds_etc ds1 row 3"
    assert names.source("instance_etc:run 9") == "instance_etc uf-web01"
