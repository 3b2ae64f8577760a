"""Files on disk: checksums, JSON that is read with a clear error, and outputs that lose nothing.

Everything metazoo writes for a user (preset folders, Lake runs) goes
through `check_output_dir` before any work starts and `atomic_dir` at the
end, so that

- an existing folder with something in it is only replaced when asked
  (`overwrite=True`, CLI `--overwrite`), and only if it is a folder of the
  same kind (it holds `marker`);
- the current directory, its parents, the home folder and the preset
  registries are never replaced;
- a crash while writing leaves the old folder as it was.

This module imports nothing heavy, so `metazoo list` stays fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


def sha256sum(path: str | os.PathLike) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json_object(path: str | os.PathLike) -> dict:
    """Reads a JSON file that must hold an object.

    Raises:
        ValueError: the file is not valid JSON or not an object; the message
            names the file.
    """
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{str(path)!r} is not valid JSON ({err}).") from err
    if not isinstance(value, dict):
        raise ValueError(
            f"{str(path)!r} must hold a JSON object. Received: a {type(value).__name__}"
        )
    return value


def write_json_atomically(path: str | os.PathLike, value) -> None:
    """Writes `value` as indented JSON to `path`, whole or not at all."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(value, indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary file path beside `path` that becomes `path` on success.

    On an exception the temporary file is removed and an existing `path` is
    left as it was, so readers see the old file or the new one, never half.

    Example:
    ```python
    with atomic_file("cache/arrays.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, x=np.zeros(3))
    ```
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; caches are to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _protected_dirs(extra: Iterable[str | os.PathLike]) -> dict[Path, str]:
    cwd = Path.cwd().resolve()
    protected = {cwd: "the current directory"}
    protected.update({parent: "a parent of the current directory" for parent in cwd.parents})
    protected[Path.home().resolve()] = "the home folder"
    protected.update({Path(p).expanduser().resolve(): "a preset registry" for p in extra})
    return protected


def check_output_dir(
    path: str | os.PathLike,
    overwrite: bool = False,
    marker: str | None = None,
    what: str = "output folder",
    protect: Iterable[str | os.PathLike] = (),
) -> Path:
    """Checks that `path` may be written as a new folder (or replace an old one).

    Call it before the work that fills the folder, so a mistake in `--output`
    costs nothing.

    Args:
        path: the folder to write.
        overwrite: bool. Allow replacing an existing, non-empty folder that
            holds `marker`.
        marker: str. A file name that marks a folder of this kind (e.g.
            `metadata.json` for presets); without it, `overwrite` replaces
            only empty folders.
        what: str. What the folder is, for messages (e.g. "preset folder").
        protect: more folders that must never be replaced (preset registries).

    Returns:
        `path` as a `Path`.

    Raises:
        FileExistsError: `path` is a file, or a non-empty folder and
            `overwrite` is False, or not a folder of this kind.
        ValueError: `path` is the current directory, one of its parents, the
            home folder or a registry.
    """
    path = Path(path).expanduser()
    resolved = path.resolve()
    reason = _protected_dirs(protect).get(resolved)
    if reason is not None:
        raise ValueError(
            f"The {what} would replace {reason}, which metazoo never does; name a new "
            f"folder inside it instead. Received: {str(path)!r}"
        )
    if not path.exists() and not path.is_symlink():
        return path
    if not path.is_dir() or path.is_symlink():
        raise FileExistsError(
            f"The {what} {str(path)!r} exists and is not a folder; choose another path."
        )
    if not any(path.iterdir()):
        return path
    if not overwrite:
        raise FileExistsError(
            f"The {what} {str(path)!r} exists and is not empty; pass --overwrite "
            "(overwrite=True) to replace it, or choose another path."
        )
    if marker is None or not (path / marker).is_file():
        raise FileExistsError(
            f"The {what} {str(path)!r} is not empty and has no {marker or 'metazoo marker'}: "
            "it is not one metazoo wrote, so it is not replaced, even with --overwrite."
        )
    return path


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary folder beside `target` that becomes `target` on success.

    On an exception nothing changes: the temporary folder is removed and an
    existing `target` is left as it was. On success an existing `target` is
    moved aside, the new folder renamed into place (both renames within one
    folder) and only then the old one deleted. Check `target` with
    `check_output_dir` first: this replaces whatever is there.

    Example:
    ```python
    with atomic_dir("runs/out") as tmp:
        (tmp / "a.txt").write_text("...")
    ```
    """
    target = Path(target).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes it private; outputs are to be shared
        if target.exists() or target.is_symlink():
            aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
            os.replace(target, aside)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(aside, target)
                raise
            shutil.rmtree(aside) if aside.is_dir() else aside.unlink()
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
