"""The README's library example runs verbatim (on a tiny bundle standing in for my.bundle)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_library_example(zoo, tmp_path) -> None:  # noqa: ANN001
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if 'Pipeline.load("my.bundle"' in b)
    (tmp_path / "my.bundle").symlink_to(zoo.bundle("llama"))
    (tmp_path / "example.py").write_text(example)
    proc = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) >= 4
