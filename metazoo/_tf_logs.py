"""TensorFlow's C++ start-up lines, kept off the user's screen unless asked for.

Importing TensorFlow prints absl/CUDA lines ("Could not find cuda drivers",
"All log messages before absl::InitializeLog() ...") straight to file
descriptor 2, before `TF_CPP_MIN_LOG_LEVEL` applies, and later C++ errors
such as "failed call to cuInit" on a machine without a GPU. `install()`
(run by `import metazoo`) sets `TF_CPP_MIN_LOG_LEVEL=3` unless the user set
it, and silences descriptor 2 while TensorFlow itself is imported. Python
exceptions are not affected. `METAZOO_TF_LOGS=1` shows everything.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys

SHOW_ENV = "METAZOO_TF_LOGS"


@contextlib.contextmanager
def stderr_silenced():
    """Sends file descriptor 2 to /dev/null for the block (C and C++ writes included)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, and has its module executed with descriptor 2 silenced."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            with stderr_silenced():
                execute(module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Quiets TensorFlow's C++ logs for this process unless `$METAZOO_TF_LOGS` is set."""
    if os.environ.get(SHOW_ENV):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and not any(
        isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
