"""``eohub sync ...`` run as a real process against a hub's data folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def eohub_sync(data: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``python -m eohub --data-dir DATA sync ARGS...``; its output as text, never raising."""
    return subprocess.run(
        [sys.executable, "-m", "eohub", "--data-dir", str(data), "sync", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
