"""Helper for tests that run the package's executables as separate processes."""

from __future__ import annotations

import signal
import subprocess


def stop_process(process: subprocess.Popen, timeout: float = 20.0) -> int:
    """Stop a node process as Ctrl-C does (SIGINT), kill it after ``timeout`` s; return its exit code."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
