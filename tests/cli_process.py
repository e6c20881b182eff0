"""Running the real `edge-spec` command in a child process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(
    *args: str, stdin: bytes | None = None, check: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_spec", *args],
        input=stdin,
        capture_output=True,
        timeout=300,
        check=check,
        env={**os.environ, **(env or {})},
    )
