"""Every command ends an error a user can cause in one line (edge.cli_errors)."""
from __future__ import annotations

import importlib
import sqlite3

import click
import pytest
from click.testing import CliRunner

from edge.cli_errors import OneLine, OneLineGroup, fail, one_line, with_errors
from edge.images import ImageError
from gallery.errors import GalleryError

COMMANDS = {"edge-identify": "edge.cli_identify:main", "edge-enroll": "edge.cli_enroll:main",
            "edge-bench": "edge.cli_bench:main", "edge-gallery": "edge.cli_gallery:main",
            "siamese-train": "train.cli:main", "siamese-convert": "convert.cli:main"}


def test_every_command_is_made_to_end_errors_in_one_line():
    from configparser import ConfigParser
    from pathlib import Path

    cfg = ConfigParser()
    cfg.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    scripts = dict(line.split(" = ") for line in
                   cfg["options.entry_points"]["console_scripts"].strip().splitlines())
    assert scripts == COMMANDS
    for target in scripts.values():
        module, name = target.split(":")
        module = importlib.import_module(module)
        command = module.cli if target == "edge.cli_gallery:main" else getattr(module, name)
        assert isinstance(command, (OneLine, OneLineGroup)), target


@pytest.mark.parametrize("error, line", [
    (GalleryError("g.db: not a gallery\nmore detail"), "g.db: not a gallery"),
    (ImageError("a.png: empty file"), "a.png: empty file"),
    (FileNotFoundError(2, "No such file or directory"), "[Errno 2] No such file or directory"),
    (sqlite3.DatabaseError("file is not a database"), "gallery database error: file is not a database"),
])
def test_a_user_error_anywhere_below_a_command_is_one_line(error, line):
    @click.command(cls=OneLine)
    def command():
        raise error

    result = CliRunner().invoke(command, [])
    assert result.exit_code == 1 and result.stderr == f"Error: {line}\n"


def test_extra_errors_and_fail_and_bugs():
    class Mine(Exception):
        pass

    @click.group(cls=with_errors(Mine, "json:JSONDecodeError", group=True))
    def group():
        pass

    @group.command()
    def mine():
        raise Mine("my own kind of trouble")

    @group.command()
    def named():   # an error class named as "module:Class", imported only when one comes
        import json
        json.loads("{")

    @group.command()
    def message():
        fail("said\nonce")

    @group.command()
    def bug():
        raise KeyError("a bug")

    runner = CliRunner()
    assert runner.invoke(group, ["mine"]).stderr == "Error: my own kind of trouble\n"
    assert runner.invoke(group, ["message"]).stderr == "Error: said\n"
    assert runner.invoke(group, ["named"]).stderr.startswith("Error: Expecting property name")
    crashed = runner.invoke(group, ["bug"])
    assert isinstance(crashed.exception, KeyError)      # a bug keeps its traceback
    assert one_line(ValueError()) == "ValueError"
