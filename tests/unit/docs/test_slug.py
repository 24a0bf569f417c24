from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.docs.slug import MAX_SLUG, slug, unslug


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cisco:asa", "cisco~3Aasa"),
        ("~", "~7E"),
        ("web-01.example.com", "web-01.example.com"),
        ("a b/c%", "a~20b~2Fc~25"),
        ("é", "~C3~A9"),
        ("<script>", "~3Cscript~3E"),
        ("..", "~2E."),  # never a hidden file
        (".conf.d", "~2Econf.d"),
    ],
)
def test_slug_escapes_every_byte_outside_the_safe_set_as_tilde_and_uppercase_hex(
    name: str, expected: str
) -> None:
    assert slug(name) == expected
    assert unslug(expected) == name


@given(st.text(max_size=16))  # 16 characters of 4 UTF-8 bytes fit MAX_SLUG
def test_a_slug_reads_back_as_its_name_and_needs_no_url_escaping(name: str) -> None:
    made = slug(name)
    assert re.fullmatch(r"[A-Za-z0-9._~-]*", made) and not made.startswith(".")
    assert unslug(made) == name


@given(st.text(max_size=30), st.text(max_size=30))
def test_two_names_never_share_a_slug(a: str, b: str) -> None:
    if a != b:
        assert slug(a) != slug(b)


def test_a_name_too_long_for_a_file_name_gets_a_short_slug_that_no_other_name_has() -> None:
    long = "é" * 5000
    made = slug(long)
    assert len(made) <= MAX_SLUG and "~~" in made
    assert slug(long + "x") != made
    assert re.fullmatch(r"[A-Za-z0-9._~-]*", made) and not made.startswith(".")
    with pytest.raises(ValueError, match="not a slug"):
        unslug(made)


def test_text_that_is_no_slug_is_refused() -> None:
    for text in ("a b", "~4", "~zz", "%41"):
        with pytest.raises(ValueError):
            unslug(text)
