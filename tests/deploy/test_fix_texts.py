"""Every fix text that names a command or a flag names one that exists.

The fix texts are collected from the source of the deploy and migrate pipelines (every ``fix=``
of a Finding or ``Report.add``, and what the functions they call return) and from every lint
rule. Each ``python manage.py <command> <args>`` mention is run through that command's real
parser; a bare ``--flag`` through the parser of every command whose output can show it (a
migrate finding shows in safe_migrate's report and in railway_deploy's).
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError

import railops_django
from railops_django.migrate.rules import RULES

PACKAGE = Path(railops_django.__file__).parent
PLACEHOLDER = "X"  # stands for a formatted value: an app label, a backup name, a rule id
SOURCES = {
    "migrate/rules.py": ("safe_migrate", "railway_deploy"),
    "migrate/lint.py": ("safe_migrate", "railway_deploy"),
    "migrate/pipeline.py": ("safe_migrate", "railway_deploy"),
    **{f"deploy/{p.name}": ("railway_deploy",) for p in sorted((PACKAGE / "deploy").glob("*.py"))},
}
MANAGE = re.compile(r"python manage\.py ([a-z_]+)((?: [^\s,;()]+)*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)(?: ([^\s,;()]+))?")
ENDS = ".,;:)'\""


def _texts(
    node: ast.expr,
    functions: dict[str, ast.FunctionDef],
    assigned: dict[str, list[ast.expr]] | None = None,
) -> list[str]:
    """Every string an expression can evaluate to, formatted values as PLACEHOLDER; a name
    stands for every value the module assigns to it."""
    assigned = assigned or {}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):  # a call to a known function inside: what it returns
        options = [
            [str(v.value)]
            if isinstance(v, ast.Constant)
            else _texts(v.value, functions, assigned)
            if isinstance(v, ast.FormattedValue)
            and isinstance(v.value, ast.Call)
            and isinstance(v.value.func, ast.Name)
            and v.value.func.id in functions
            else [PLACEHOLDER]
            for v in node.values
        ]
        return ["".join(parts) for parts in itertools.product(*options)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [
            a + b
            for a, b in itertools.product(
                _texts(node.left, functions, assigned), _texts(node.right, functions, assigned)
            )
        ]
    if isinstance(node, ast.IfExp):
        return _texts(node.body, functions, assigned) + _texts(node.orelse, functions, assigned)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
        returns = [
            r.value
            for r in ast.walk(functions[node.func.id])
            if isinstance(r, ast.Return) and r.value is not None
        ]
        return [t for r in returns for t in _texts(r, functions, assigned)]
    if isinstance(node, ast.Name) and node.id in assigned:
        others = {k: v for k, v in assigned.items() if k != node.id}  # no self-reference loop
        return [t for value in assigned[node.id] for t in _texts(value, functions, others)]
    return [PLACEHOLDER]


def _imported_functions(tree: ast.Module, relative: str) -> dict[str, ast.FunctionDef]:
    """The package's functions that ``tree`` imports by name (``from ..backup.restore import
    command as restore_command``), under the name the module calls them by."""
    out: dict[str, ast.FunctionDef] = {}
    here = (PACKAGE / relative).parent
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not node.level or not node.module:
            continue
        base = here
        for _ in range(node.level - 1):
            base = base.parent
        path = base.joinpath(*node.module.split(".")).with_suffix(".py")
        if not path.is_file():
            continue
        defined = {
            n.name: n for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)
        }
        for alias in node.names:
            if alias.name in defined:
                out[alias.asname or alias.name] = defined[alias.name]
    return out


def fix_texts() -> list[tuple[str, tuple[str, ...], str]]:
    """(where, commands that can show it, text) for every fix text."""
    found = [
        (f"rules.py:{rule.id}", SOURCES["migrate/rules.py"], rule.fix) for rule in RULES.values()
    ]
    for relative, commands in SOURCES.items():
        tree = ast.parse((PACKAGE / relative).read_text())
        functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        functions.update(_imported_functions(tree, relative))
        assigned: dict[str, list[ast.expr]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        assigned.setdefault(target.id, []).append(node.value)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "fix":
                    for text in _texts(keyword.value, functions, assigned):
                        found.append((f"{relative}:{node.lineno}", commands, text))
    return [f for f in found if f[2] != PLACEHOLDER]


def mentions(text: str, commands: tuple[str, ...]) -> list[tuple[str, list[str], bool]]:
    """(command, words, bare) for each command line or flag a fix text names.

    ``words`` of a command line may run on into the sentence ("... --noinput and fix it"); a
    bare flag (``bare``) comes with the word after it, which may or may not be its value.
    """
    out: list[tuple[str, list[str], bool]] = []
    rest = text
    for match in MANAGE.finditer(text):
        words = [a.rstrip(ENDS) for a in match.group(2).split()]
        out.append((match.group(1), [a for a in words if a], False))
        rest = rest.replace(match.group(0), " ")
    for match in FLAG.finditer(rest):
        flag, value = match.group(1), (match.group(2) or "").rstrip(ENDS)
        words = [flag, value] if value and not value.startswith("-") else [flag]
        out.extend((command, words, True) for command in commands)
    return out


def _parse(command: str, argv: list[str]) -> str:
    """'' when ``manage.py command *argv`` parses (exact flag names), else the complaint."""
    instance = load_command_class(get_commands()[command], command)
    parser = instance.create_parser("manage.py", command)
    parser.allow_abbrev = False  # "--force" must not pass as railway_deploy's --force-color
    try:
        parser.parse_args(argv)
    except (CommandError, SystemExit) as exc:
        return str(exc) or "refused"
    return ""


def _sample(command: str, flag: str) -> list[str]:
    """A flag with a value of its type, for a bare mention that gives none."""
    instance = load_command_class(get_commands()[command], command)
    action = instance.create_parser("manage.py", command)._option_string_actions.get(flag)
    if action is None or action.nargs == 0:
        return [flag]
    return [flag, PLACEHOLDER if action.type in (None, str) else "1"]  # a typed flag: a number


def parses(command: str, words: list[str], bare: bool = False) -> str:
    """'' when the mention parses with the command's real parser, else the complaint.

    A command line is cut where the sentence goes on: the longest run of its words that
    parses counts, as long as it keeps the first word (a subcommand) and every flag.
    """
    if command not in get_commands():
        return f"no command {command!r}"
    if bare:
        if not _parse(command, words):
            return ""
        return _parse(command, _sample(command, words[0]))
    needed = max([i + 1 for i, w in enumerate(words) if w.startswith("-")] + [min(1, len(words))])
    problem = ""
    for end in range(len(words), needed - 1, -1):
        problem = _parse(command, words[:end])
        if not problem:
            return ""
    return problem


def test_collector__finds_the_fixes_it_must_check():
    texts = [t for _, _, t in fix_texts()]
    assert len(texts) >= 45, len(texts)
    joined = "\n".join(texts)
    for expected in (
        "--allow-unsafe",  # lint findings and the blocked run
        "python manage.py railway_deploy --allow-unsafe",  # the deploy's blocked fix
        "python manage.py backup restore",  # the deploy's recovery
        "--statement-timeout",  # the statement-timeout failure
        "Drop --no-backup",
    ):
        assert expected in joined, expected


def test_mentions__reads_commands_and_bare_flags():
    found = mentions(
        "Fix it, or run python manage.py safe_migrate --allow-unsafe add_index; "
        "or drop --no-backup (python manage.py backup create).",
        ("railway_deploy",),
    )
    assert found == [
        ("safe_migrate", ["--allow-unsafe", "add_index"], False),
        ("backup", ["create"], False),
        ("railway_deploy", ["--no-backup"], True),
    ]


def test_parses__refuses_a_flag_the_command_lacks():
    assert parses("railway_deploy", ["--no-backup"], bare=True) == ""
    assert parses("railway_deploy", ["--force"], bare=True) != ""  # no abbreviations
    assert parses("safe_migrate", ["--statement-timeout"], bare=True) == ""
    assert parses("safe_migrate", ["--force", "runs", "the"]) == ""
    assert parses("backup", ["restor", "X"]) != ""  # a misspelt subcommand
    assert parses("no_such_command", []) != ""


@pytest.mark.parametrize(
    ("where", "commands", "text"),
    fix_texts(),
    ids=lambda v: v if isinstance(v, str) and ":" in v else "",
)
def test_fix_text__every_command_and_flag_it_names_parses(where, commands, text):
    bad = [
        f"manage.py {command} {' '.join(words)}: {problem}"
        for command, words, bare in mentions(text, commands)
        if (problem := parses(command, words, bare))
    ]
    assert not bad, f"{where}: {text!r} names what does not exist: {bad}"
