"""Atomic writes: a reader sees the old file or the new one, never a part, and no
temporary file is left behind, also when the write fails."""

from __future__ import annotations

import json
import os

import pytest

from scalinglab import io


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
