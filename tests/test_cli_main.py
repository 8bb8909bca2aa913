"""The ``xemogpt`` entry point: every subcommand is registered, and a missing subcommand module is an error."""

from __future__ import annotations

import pytest

from xemogpt_cli import main as cli_main


def test_every_subcommand_is_registered():
    parser = cli_main.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert sorted(subparsers.choices) == sorted(cli_main.SUBCOMMANDS)


def test_missing_subcommand_module_is_an_error_not_a_skip(monkeypatch):
    monkeypatch.setitem(cli_main.SUBCOMMANDS, "ghost", "no_such_module")
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        cli_main.build_parser()
