"""Stored values that look like Rich markup print as themselves in every CLI table and line.

A record id ``[/bold]x`` once crashed ``ingest rejected`` with a ``MarkupError`` traceback, and a value
``[link=http://x]y[/link]`` would have become a terminal hyperlink. The CLI now prints data only as
literal :class:`rich.text.Text` (``monitor.entrypoints.cli._common.say`` / ``DataTable``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.adapters.config_file import load_device_config
from monitor.entrypoints.bootstrap import bootstrap
from monitor.entrypoints.cli import _common, app
from monitor.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CLI_FOLDER = ROOT / "monitor" / "entrypoints" / "cli"
KEY = "markup-test-patient-key-0123456789"
CLOSE = "[/bold]x"
LINK = "[link=http://x]y[/link]"
STYLE = "[red]z[/red]"
TRAILING = "w\\"  # a trailing backslash: rich.markup.escape would print it twice
HOSTILE = (CLOSE, LINK, STYLE)
FILE_NAME = f"[red]z[blink]q {TRAILING}.csv"  # a file name cannot hold a "/"
CSV_HEADER = ("prediction_id,device_id,model_version,site_id,predicted_at,score,predicted_label,patient_id,age,sex,"
              "emphysema_grade,scanner_vendor\n")


def _row(prediction_id: str, score: str = "0.4") -> str:
    return f"{prediction_id},lung-nodule-ct,2.1.0,site-1,2026-01-20T08:00:00Z,{score},0,MRN-1,50,F,none,GE\n"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``run(*args)``: the CLI in this process on a fresh SQLite database; an uncaught exception fails."""
    url = f"sqlite:///{(tmp_path / 'm.sqlite').as_posix()}"
    monkeypatch.setenv("MONITOR_DATABASE_URL", url)
    monkeypatch.setenv("MONITOR_PATIENT_ID_KEY", KEY)
    monkeypatch.setattr(_common.out, "width", 400)  # no wrapping inside table cells
    monkeypatch.setattr(_common.err, "width", 400)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=True)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args, repr(result.exception), result.output)
        assert result.exit_code == code, (args, result.output)
        return result.output

    run("db", "upgrade")
    run("user", "add", "tester", "--name", "Tester", "--role", "admin", "--no-password")  # the first user
    monkeypatch.setenv("MONITOR_USER", "tester")  # the named user every later command acts as
    run.url = url  # type: ignore[attr-defined]
    return run


def _literal(output: str, *values: str) -> None:
    for value in values:
        assert value in output, (value, output)


def test_hostile_values_print_literally_in_every_list_and_show_command(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml")
    app_ = bootstrap(Settings(database_url=cli.url, data_dir=tmp_path, patient_id_key=KEY))
    from monitor.service.devices import register_device

    named = config.model_copy(update={"device": config.device.model_copy(update={"name": f"{LINK} {CLOSE}"})})
    register_device(named, uow=app_.uow, clock=app_.clock, actor=LINK, source="test")
    with app_.uow() as unit:
        unit.tickets.create(device_id="lung-nodule-ct", model_version="2.1.0", stratum=f"site_id={CLOSE}",
                            metric="sensitivity", title=LINK, at=app_.clock())
    app_.engine.dispose()

    log = tmp_path / FILE_NAME
    log.write_text(CSV_HEADER + _row("ok-1") + _row(CLOSE, score="7") + _row(LINK, score="7")
                   + _row(STYLE + TRAILING, score="7"), encoding="utf-8")
    summary = cli("ingest", "predictions", str(log))
    _literal(summary, FILE_NAME)
    _literal(cli("ingest", "rejected"), *HOSTILE, STYLE + TRAILING)
    _literal(cli("ingest", "batches"), FILE_NAME)
    _literal(cli("device", "list"), f"{LINK} {CLOSE}")
    cli("user", "add", "qa1", "--name", f"{CLOSE} {LINK}", "--role", "qa", "--no-password")
    _literal(cli("user", "list"), f"{CLOSE} {LINK}")
    cli("token", "create", "--name", f"{STYLE} {CLOSE}", "--role", "qa")
    _literal(cli("token", "list"), f"{STYLE} {CLOSE}")
    _literal(cli("tickets", "list"), f"site_id={CLOSE}")
    _literal(cli("audit", "list", "--limit", "200"), LINK)


def test_an_error_line_naming_a_hostile_value_is_literal(cli, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """Through the console script's ``main``: one ``error:`` line, the value as given, exit status 2."""
    from monitor.entrypoints.cli import main

    monkeypatch.setattr("sys.argv", ["samd-monitor", "tickets", "show", f"{CLOSE} {LINK}"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exited.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert f"{CLOSE} {LINK}" in lines[0]


def test_every_cli_table_and_print_goes_through_the_literal_helpers() -> None:
    """No ``rich.table.Table`` or ``rich.markup.escape`` in the CLI modules but ``_common``'s, and no
    ``console.print`` of an f-string (a line carrying data must use ``say``)."""
    offenders = []
    for path in sorted(CLI_FOLDER.glob("*.py")):
        if path.name == "_common.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("rich.table", "rich.markup"):
                offenders.append(f"{path.name}:{node.lineno} imports {node.module}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "print"
                    and node.args and isinstance(node.args[0], (ast.JoinedStr, ast.Constant, ast.BinOp))):
                offenders.append(f"{path.name}:{node.lineno} prints a string without say()")
    assert offenders == []
