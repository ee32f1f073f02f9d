"""The `insideout` command line (insideout/cli.py): one parser, every command's --help, the shared preamble's
exit codes, and a command run end to end through the installed console script."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from insideout.cli import COMMANDS, main
from insideout.services import build_services
from insideout.settings import Settings
from tests.conftest import tone, wav_bytes

# The command list the README and the changelog promise; the table in cli.py must offer each.
PROMISED = ["serve", "build-corpus", "report", "import", "import-ravdess", "generate", "train", "distill-vocoder",
            "train-refiner", "emphasize-refiner",
            "eval", "migrate", "plot-losses", "bench-api", "bench-store", "bench-tts", "bench-restock", "bench-pow",
            "bench-hardness", "bench-adversarial", "bots", "sites", "bench-widget", "bench-dashboard", "load-test",
            "bench-limits", "dynamodb", "settings"]


def run_main(argv: list[str]) -> int:
    """main() as the console script runs it: argparse's own exits (--help, bad arguments) become the code."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1


def console_script() -> str:
    """The `insideout` that `pip install -e .` put beside this Python."""
    found = shutil.which("insideout", path=str(Path(sys.executable).parent)) or shutil.which("insideout")
    assert found, "no insideout command: pip install -e . (the test command's requirements-dev.txt does it)"
    return found


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDEOUT_")}
    return {**env, "INSIDEOUT_DATA_DIR": str(tmp_path / "data"), **extra}


def test_the_help_lists_every_command_with_a_one_line_description(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per command
    assert run_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert [c.name for c in COMMANDS] == PROMISED
    for command in COMMANDS:
        assert re.search(rf"^\s+{re.escape(command.name)}\s+{re.escape(command.summary)}$", out, re.M), command.name
    assert "exit codes:" in out and "insideout settings" in out


@pytest.mark.parametrize("name", PROMISED)
def test_every_command_has_its_own_help(name, capsys):
    assert run_main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: insideout {name}") and "exit codes:" in out


def test_python_dash_m_insideout_is_the_same_command_line():
    result = subprocess.run([sys.executable, "-m", "insideout", "--help"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in PROMISED)


def test_the_installed_console_script_answers_help():
    result = subprocess.run([console_script(), "--help"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: insideout") and all(name in result.stdout for name in PROMISED)


def test_the_help_imports_neither_torch_nor_gradio():
    probe = ("import contextlib, io, sys\n"
             "from insideout.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    try:\n"
             "        main(['--help'])\n"
             "    except SystemExit:\n"
             "        pass\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'gradio', 'librosa', 'matplotlib'}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["serve", "build-corpus", "report", "import", "import-ravdess", "generate"])
def test_a_bad_setting_exits_2_and_names_the_variable(name, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INSIDEOUT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INSIDEOUT_PORT", "seventy")
    argv = {"import": ["--manifest", str(tmp_path / "m.csv"), "--pool", "play"], "import-ravdess": [str(tmp_path)],
            "generate": ["--count", "1"]}.get(name, [])
    assert run_main([name, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("insideout: bad setting: ") and "INSIDEOUT_PORT" in err
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_a_bad_setting_in_a_real_process_gives_no_traceback(tmp_path):
    result = subprocess.run([console_script(), "report"], env=clean_env(tmp_path, INSIDEOUT_MAX_ROUNDS="many"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "insideout: bad setting:" in result.stderr and "INSIDEOUT_MAX_ROUNDS" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_audio_store_at_start_exits_2_without_a_traceback(tmp_path):
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,emotion\n")
    env = clean_env(tmp_path, INSIDEOUT_STORAGE="s3", INSIDEOUT_S3_BUCKET="nobody-home",
                    INSIDEOUT_S3_ENDPOINT_URL="http://127.0.0.1:9", INSIDEOUT_S3_REGION="us-east-1",
                    INSIDEOUT_S3_MAX_ATTEMPTS="1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                    AWS_EC2_METADATA_DISABLED="true")
    result = subprocess.run([console_script(), "import", "--manifest", str(manifest), "--pool", "play"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "insideout: audio storage:" in result.stderr and "Traceback" not in result.stderr


def test_bad_arguments_exit_2_with_the_command_named(capsys):
    assert run_main(["import", "--manifest", "m.csv", "--pool", "everywhere"]) == 2
    assert "insideout import: error: argument --pool" in capsys.readouterr().err
    assert run_main(["no-such-command"]) == 2
    assert run_main([]) == 2


def test_import_runs_end_to_end_through_the_console_script(tmp_path):
    (tmp_path / "a.wav").write_bytes(wav_bytes(tone(1)))
    (tmp_path / "b.wav").write_bytes(wav_bytes(tone(2)))
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,emotion\na.wav,happy\nb.wav,fearful\nmissing.wav,sad\n")
    result = subprocess.run([console_script(), "import", "--manifest", str(manifest), "--pool", "play"],
                            env=clean_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "imported 2 clips, skipped 1" in result.stdout and "no such file" in result.stdout
    rows = build_services(Settings(data_dir=tmp_path / "data", secret_key="k" * 40)).db.clips()
    assert sorted((r["label"], r["pool"]) for r in rows) == [("fearful", "play"), ("happy", "play")]


def test_a_command_error_is_one_line_naming_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INSIDEOUT_DATA_DIR", str(tmp_path / "data"))
    assert run_main(["import", "--manifest", str(tmp_path / "nope.csv"), "--pool", "play"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("insideout import: ") and "no such file" in err and len(err.splitlines()) == 1


def test_settings_lists_every_variable_with_its_default(capsys):
    assert run_main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "INSIDEOUT_DATA_DIR" in out and "INSIDEOUT_MAX_ROUNDS" in out and "default" in out
