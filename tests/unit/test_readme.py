"""README, LICENSE and CHANGELOG: what the README points to exists, and the license is the one declared."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_file_the_readme_names_exists() -> None:
    named = set(re.findall(r"\]\(((?:docs|schemas|examples)/[^)#\s]+|LICENSE|CHANGELOG\.md)\)", README))
    named |= set(re.findall(r"`((?:docs|schemas|examples|bench)/[\w./-]+\.(?:md|yaml|py|json))`", README))
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert not missing


def test_readme_order_what_then_two_commands_then_first_use_then_reference() -> None:
    headings = re.findall(r"^## (.+)$", README, flags=re.MULTILINE)
    assert headings[:3] == ["Set-up: two commands", "First real use", "Reference"]
    setup = README.split("## Set-up: two commands")[1].split("\n## ")[0]
    assert "make demo" in setup and "make test" in setup


def test_license_is_the_declared_apache_2() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert declared == "Apache-2.0"
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_changelog_follows_keep_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "monitor" / "__init__.py").read_text()).group(1)
    assert "keepachangelog.com" in text and f"## [{version}]" in text
    assert set(re.findall(r"^### (\w+)", text, flags=re.MULTILINE)) <= {"Added", "Changed", "Deprecated", "Removed",
                                                                          "Fixed", "Security"}


def _command_lines() -> list[str]:
    """Every ``samd-monitor ...`` line of the README: code blocks (continuations joined, comments cut) and
    inline code."""
    text = README.replace("\\\n", " ")
    lines = [line.split(" #")[0].strip() for line in text.splitlines() if line.strip().startswith("samd-monitor ")]
    lines += re.findall(r"`(samd-monitor [^`]+)`", text)
    return [re.sub(r"([\w-]+)(\|[\w-]+)+", r"\1", line.split(";")[0]) for line in lines]  # a|b: a


def test_every_readme_command_and_option_exists() -> None:
    """Each ``samd-monitor`` command line in the README names a real command and only its real options."""
    import shlex

    import typer

    from monitor.entrypoints.cli import app

    root = typer.main.get_command(app)
    global_opts = {o for p in root.params for o in p.opts}
    wrong = []
    for line in _command_lines():
        tokens = shlex.split(line)[1:]
        command, ctx_opts = root, set(global_opts)
        while tokens and tokens[0].startswith("--") and tokens[0] in global_opts:
            tokens = tokens[2:]
        while tokens and hasattr(command, "commands") and tokens[0] in command.commands:
            command = command.commands[tokens.pop(0)]
        if hasattr(command, "commands") and tokens and not tokens[0].startswith("-") and tokens[0] != "...":
            wrong.append(f"{line}: no command {tokens[0]!r}")
            continue
        ctx_opts |= {o for p in command.params for o in p.opts} | {"--help"}
        wrong += [f"{line}: no option {t.split('=')[0]}" for t in tokens
                  if t.startswith("--") and t.split("=")[0] not in ctx_opts]
    assert not wrong
