"""``cli_main`` and ``CliParser``: what a user sees when a command fails."""
from __future__ import annotations

import pytest

from pipeline.errors import CliParser, ConfigError, cli_main


def test_cli_main_turns_user_and_file_system_errors_into_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SUPPORT_DEBUG", raising=False)

    @cli_main
    def fails(exc: BaseException) -> int:
        raise exc

    assert fails(ConfigError("The 'k' parameter must be an int >= 1. Got 0.")) == 2
    assert capsys.readouterr().err == "error: The 'k' parameter must be an int >= 1. Got 0.\n"
    assert fails(PermissionError(13, "Permission denied", str(tmp_path / "out"))) == 2
    assert capsys.readouterr().err == (f"error: Permission denied: {str(tmp_path / 'out')!r}. "
                                       "Check the path, its permissions and the free space.\n")
    with pytest.raises(OSError, match="no file named"):  # an OSError without a path is a bug: keep the traceback
        fails(OSError("no file named"))
    assert fails(KeyboardInterrupt()) == 130 and capsys.readouterr().err == "interrupted\n"
    monkeypatch.setenv("SUPPORT_DEBUG", "1")
    with pytest.raises(ConfigError):
        fails(ConfigError("shown with its traceback"))


def test_cli_parser_errors_are_one_line(capsys):
    parser = CliParser(prog="python -m tool")
    parser.add_argument("--top-k", type=int)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--top-k", "x", "--bogus"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("error: argument --top-k: invalid int value: 'x'. "
                                       "Run 'python -m tool --help' for the options.\n")


def test_config_and_json_readers_name_the_bad_file(tmp_path):
    from pipeline.artifacts import read_json
    from pipeline.config import read_yaml
    from pipeline.errors import DataError

    with pytest.raises(ConfigError, match=r"is a folder\. Pass a YAML file\."):
        read_yaml(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1.yaml' is not UTF-8 text \(byte 9\)\. Pass a YAML file\."):
        read_yaml(tmp_path / "latin1.yaml")
    (tmp_path / "cut.json").write_text('{"epoch": 1,\n "step')
    with pytest.raises(DataError, match=r"cut.json' is not valid JSON \(line 2: Unterminated string"):
        read_json(tmp_path / "cut.json")
