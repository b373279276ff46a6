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


BROKEN_PIPE_CHILD = """
import sys
from pipeline.errors import cli_main

@cli_main
def main():
    sys.stdin.read()  # wait until the reader has gone, so the first write hits a closed pipe
    print("the reply")
    sys.stdout.flush()  # raises BrokenPipeError: nobody reads the pipe any more
    return 0

sys.exit(main())
"""


def test_cli_main_exits_quietly_when_the_reader_closes_the_pipe():
    """``python -m pipeline.respond ... | head -1``: exit 1, and no traceback or 'Exception ignored' at shutdown."""
    import subprocess
    import sys
    from pathlib import Path

    child = subprocess.Popen([sys.executable, "-c", BROKEN_PIPE_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
    child.stdout.close()  # the reader goes away before the child writes anything
    child.stdin.close()
    err = child.stderr.read()
    assert child.wait(timeout=60) == 1
    assert err == b""


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


def test_progress_lines_when_stderr_is_not_a_terminal():
    import io

    from pipeline.utils import ProgressLines

    out = io.StringIO()
    bar = ProgressLines(20, "epoch 1/2", unit="batch", stream=out)
    for _ in range(20):
        bar.set_postfix(loss="0.5")
        bar.update(1)
    assert out.getvalue().splitlines()[:2] == ["epoch 1/2: 2/20 batch (10%) (loss 0.5)", "epoch 1/2: 4/20 batch (20%) (loss 0.5)"]
    assert len(out.getvalue().splitlines()) == 10


def test_unknown_flag_gets_a_did_you_mean(capsys):
    from pipeline.errors import CliParser

    parser = CliParser(prog="x")
    parser.add_argument("--dim")
    parser.add_argument("--epochs")
    for argv, hint in ((["--vector-size", "3"], "Did you mean --dim?"), (["--epoks", "2"], "Did you mean --epochs?")):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        assert hint in capsys.readouterr().err
