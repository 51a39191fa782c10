"""The command line's contract: help that teaches, and exit code 2 (no traceback) for a user mistake."""
import subprocess
import sys


def run_swsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_commands_and_exit_codes() -> None:
    result = run_swsim("--help")
    assert result.returncode == 0
    assert "exit codes" in result.stdout


def test_unknown_command_is_a_usage_error_without_traceback() -> None:
    result = run_swsim("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_no_command_prints_help_and_exits_2() -> None:
    result = run_swsim()
    assert result.returncode == 2
    assert "usage: swsim" in result.stdout
