"""Atomic writes: a reader sees the old file or the new one, never a part, and no
temporary file is left behind, also when the write fails."""

from __future__ import annotations

import json
import math
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalinglab import io
from scalinglab.errors import InputError


def test_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    io.atomic_write_json(path, {"x": 1})
    io.atomic_write_json(path, {"x": 2}, sort_keys=True)
    assert json.loads(path.read_text()) == {"x": 2}
    io.atomic_write_text(tmp_path / "b.txt", "héllo", sync_dir=True)
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.txt"
    path.write_text("old")

    def no_space(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        io.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_load_json_reads_a_file_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "fit.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": [1, 2]}')
    assert io.load_json(path, what="fit file", fix="give a fit") == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("content", "located"),
    [
        # The "2" of line 3 is its 9th character (counted by hand): a comma is missing.
        (b'{\n "a": 1,\n "b": 1 2\n}', "line 3, column 9: invalid JSON (Expecting ',' delimiter)"),
        (b'{"a": 1,\n "b": "caf\xe9"}', "line 2: byte 0xe9 is not UTF-8"),
        (b"", "line 1, column 1: invalid JSON (Expecting value)"),
    ],
)
def test_load_json_errors_are_one_line_and_located(tmp_path, content, located):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        io.load_json(path, what="fit file", fix="give the fit --json file")
    message = str(caught.value)
    assert message.startswith(f"{path}, {located}")
    assert "\n" not in message


def test_load_json_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match=r"nope\.json: recipe file not found; give a recipe"):
        io.load_json(tmp_path / "nope.json", what="recipe file", fix="give a recipe")
    with pytest.raises(InputError, match="cannot read the recipe file"):
        io.load_json(tmp_path, what="recipe file", fix="give a recipe")


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def _same_but_non_finite_as_null(written, original) -> bool:
    if isinstance(original, float):
        return written is None if not math.isfinite(original) else written == original
    if isinstance(original, dict):
        return written.keys() == original.keys() and all(
            _same_but_non_finite_as_null(written[k], v) for k, v in original.items()
        )
    if isinstance(original, list | tuple):
        return len(written) == len(original) and all(
            _same_but_non_finite_as_null(w, o) for w, o in zip(written, original, strict=True)
        )
    return written == original


@given(_JSON_VALUES)
def test_strict_json_is_standard_json_with_only_non_finite_floats_changed(value):
    def refuse(token):
        raise AssertionError(f"{token} is not standard JSON")

    written = json.loads(io.dumps_strict(value), parse_constant=refuse)
    assert _same_but_non_finite_as_null(written, value)
