"""The compose `bootstrap` one-shot's shell loop, run with /bin/sh and a stand-in `python`: it retries while the
emulator is not up (exit 1), succeeds once bootstrap does, and stops at once on a configuration error (exit 2)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .agreement import load_compose

ROOT = Path(__file__).resolve().parents[2]


def bootstrap_script() -> list[str]:
    command = load_compose((ROOT / "docker-compose.yml").read_text())["bootstrap"].command
    assert command[:2] == ["sh", "-c"], command
    return command


def run_with_stub(tmp_path: Path, exit_codes: list[int]) -> tuple[int, int]:
    """Run the loop with `python` answering ``exit_codes`` in turn (then 0) and a no-op `sleep`;
    returns (the loop's exit code, how many times python ran)."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    codes = " ".join(str(c) for c in exit_codes)
    (bin_dir / "python").write_text(f"""#!/bin/sh
echo "$*" >> {calls}
n=$(wc -l < {calls})
set -- {codes}
shift $((n - 1)) 2>/dev/null || exit 0
exit ${{1:-0}}
""")
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")
    for stub in ("python", "sleep"):
        (bin_dir / stub).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(bootstrap_script(), env=env, capture_output=True, text=True, timeout=60)
    ran = calls.read_text().splitlines() if calls.exists() else []
    assert all(line == "-m stack.bootstrap" for line in ran), ran
    return done.returncode, len(ran)


@pytest.mark.parametrize("codes, expected", [
    ([0], (0, 1)),                 # emulator up: one run
    ([1, 1, 1, 0], (0, 4)),        # emulator starting: retried until bootstrap succeeds
    ([1, 2], (2, 2)),              # bad configuration: no more retries, the error is the container's exit code
])
def test_bootstrap_loop_retries_only_while_the_emulator_is_not_up(tmp_path: Path, codes: list[int],
                                                                  expected: tuple[int, int]) -> None:
    assert run_with_stub(tmp_path, codes) == expected


def test_bootstrap_loop_gives_up_with_a_failure(tmp_path: Path) -> None:
    code, runs = run_with_stub(tmp_path, [1] * 200)
    assert code == 1 and runs == 90
