"""The CLI declares every option one way, shares repeated ones, and every --help renders.

Issue 15 asks for one option style (``name: Annotated[T, typer.Option(...)] = default``),
with options repeated across commands declared once in ``scalinglab.cli.options``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import scalinglab.cli
from scalinglab.cli import options
from scalinglab.cli.app import app

CLI_DIR = Path(scalinglab.cli.__file__).parent
TYPER_PARAMETERS = {"Option", "Argument"}


def _is_typer_parameter(node: ast.AST) -> bool:
    """``typer.Option(...)`` or ``typer.Argument(...)``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in TYPER_PARAMETERS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "typer"
    )


def _calls_outside_annotated(source: str) -> list[int]:
    """Line numbers of typer.Option/Argument calls not inside an ``Annotated[...]``."""
    tree = ast.parse(source)
    inside: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "Annotated"
        ):
            inside.update(id(sub) for sub in ast.walk(node.slice) if _is_typer_parameter(sub))
    return [n.lineno for n in ast.walk(tree) if _is_typer_parameter(n) and id(n) not in inside]


def test_the_scan_finds_the_default_style():
    """The check below can fail: it flags both spellings of the old style."""
    old = (
        "def f(\n"
        "    a: int = typer.Option(1, '--a'),\n"
        "    b: Annotated[int, typer.Option('--b')] = 2,\n"
        "):\n"
        "    return inspect.Parameter('c', 3, default=typer.Argument(None))\n"
    )
    assert _calls_outside_annotated(old) == [2, 5]


@pytest.mark.parametrize("path", sorted(CLI_DIR.glob("*.py")), ids=lambda p: p.name)
def test_every_option_is_declared_in_the_annotated_style(path: Path):
    source = path.read_text()
    assert not re.search(r"=\s*typer\.(Option|Argument)\(", source), path.name
    assert _calls_outside_annotated(source) == [], path.name


def test_each_shared_option_is_used_by_at_least_two_commands():
    """``cli/options.py`` holds options that commands share, not one command's options."""
    sources = [p.read_text() for p in CLI_DIR.glob("*.py") if p.name != "options.py"]
    shared = [
        name
        for name, value in vars(options).items()
        if getattr(value, "__metadata__", None) and name[0].isupper()
    ]
    assert len(shared) >= 10
    for name in shared:
        uses = sum(len(re.findall(rf":\s*{name}\b", source)) for source in sources)
        assert uses >= 2, f"{name} is used {uses} time(s)"


def _commands(command, path: tuple[str, ...] = ()):
    """Every command and group of the click tree, as (path, command)."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_command_tree_is_complete():
    paths = {" ".join(path) for path, _ in COMMANDS}
    expected = {"", "fit", "train", "finetune", "finetune-sweep", "predict", "serve", "plan"}
    expected |= {"model describe", "model ladder", "sweep design", "sweep run", "sweep status"}
    expected |= {"runs export", "recipe fit", "recipe show", "report", "quickstart"}
    assert expected <= paths


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) or "scalinglab" for path, _ in COMMANDS]
)
def test_every_help_renders_with_every_option(path: tuple[str, ...], command):
    # A wide terminal: at 80 columns rich cuts the longest flags short ("--max-train-examp…").
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    for parameter in command.params:
        for flag in (*parameter.opts, *getattr(parameter, "secondary_opts", ())):
            if flag.startswith("-"):
                assert flag in result.output, f"{' '.join(path)}: {flag} missing from --help"
