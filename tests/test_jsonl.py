"""The shared JSON Lines reader: objects with their line numbers, errors located."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalinglab.errors import InputError
from scalinglab.jsonl import iter_jsonl_objects


def test_objects_come_with_their_line_numbers_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('\ufeff{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert list(iter_jsonl_objects(path, example='{"a": 1}')) == [(1, {"a": 1}), (3, {"a": 2})]


@pytest.mark.parametrize(
    ("line", "problem"),
    [('{"a": ', "not valid JSON"), ("[1, 2]", "a JSON list, not an object")],
)
def test_bad_lines_name_file_line_and_the_expected_shape(
    tmp_path: Path, line: str, problem: str
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        list(iter_jsonl_objects(path, example='{"a": 1}'))
    message = str(caught.value)
    assert message.startswith(f"{path}, line 2: {problem}")
    assert 'e.g. {"a": 1}' in message


@given(st.lists(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), max_size=8))
def test_round_trip_of_any_objects(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    import json

    path = tmp_path_factory.mktemp("jsonl") / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    read = [record for _, record in iter_jsonl_objects(path, example="{}")]
    assert read == rows
