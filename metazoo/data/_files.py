"""Locating the official data files: a local folder first, else a checked download."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from metazoo.files import sha256sum

DATA_DIR_ENV = "METAZOO_DATA_DIR"
_CACHE_ENV = "METAZOO_CACHE_DIR"
PREPARED_DIR_ENV = "METAZOO_PREPARED_DIR"


@dataclass(frozen=True)
class RemoteFile:
    """An official data file: its name, where to download it, and its sha256."""

    name: str
    url: str
    sha256: str
    subdir: str  # where the file lives below a data folder, e.g. "omniglot"


def _cache_dir() -> Path:
    return Path(os.environ.get(_CACHE_ENV, Path.home() / ".cache" / "metazoo" / "downloads"))


def prepared_dir() -> Path:
    """Where arrays decoded from the official files are kept between runs.

    `$METAZOO_PREPARED_DIR`, else `~/.cache/metazoo/prepared` (beside the
    download cache, `~/.cache/metazoo/downloads`).
    """
    default = Path.home() / ".cache" / "metazoo" / "prepared"
    return Path(os.environ.get(PREPARED_DIR_ENV) or default).expanduser()


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """Returns the local data folder: `data_dir`, else `$METAZOO_DATA_DIR`, else None.

    Raises:
        FileNotFoundError: a folder was named but does not exist.
    """
    source = "data_dir" if data_dir else DATA_DIR_ENV
    data_dir = data_dir or os.environ.get(DATA_DIR_ENV)
    if not data_dir:
        return None
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"The data folder given by {source} does not exist. Received: {data_dir!r}"
        )
    return path


def find_local(remote: RemoteFile, data_dir: Path) -> Path | None:
    """Finds `remote.name` in `data_dir` or `data_dir/<subdir>`."""
    for candidate in (data_dir / remote.name, data_dir / remote.subdir / remote.name):
        if candidate.is_file():
            return candidate
    return None


def fetch(
    remote: RemoteFile,
    data_dir: str | os.PathLike | None = None,
    timeout: float = 15.0,
) -> Path:
    """Returns a local path to `remote`: from the data folder, the cache, or the web.

    A local data folder wins (its files are trusted to hold the official
    contents; their archive bytes may differ). Otherwise the file is
    downloaded once into the cache, its sha256 checked, and moved into place
    only when complete, so an interrupted download leaves nothing behind.

    Raises:
        FileNotFoundError: a local data folder was given but lacks the file.
        ConnectionError: the download failed (no network); the message says
            how to point metazoo at local files instead.
        ValueError: the downloaded file's sha256 does not match.
    """
    local_dir = resolve_data_dir(data_dir)
    if local_dir is not None:
        found = find_local(remote, local_dir)
        if found is None:
            raise FileNotFoundError(
                f"{remote.name} was not found in the data folder {str(local_dir)!r} "
                f"(looked in it and in its '{remote.subdir}/' subfolder). "
                f"Download it from {remote.url}."
            )
        return found

    target = _cache_dir() / remote.subdir / remote.name
    if target.is_file() and sha256sum(target) == remote.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{remote.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(remote.url, timeout=timeout) as response:
                shutil.copyfileobj(response, out)
        got = sha256sum(tmp)
        if got != remote.sha256:
            raise ValueError(
                f"Downloaded {remote.name} has sha256 {got}, expected {remote.sha256}."
            )
        os.replace(tmp, target)
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as err:
        raise ConnectionError(
            f"Could not download {remote.url} ({err}). If you have the file, point "
            f"metazoo at the folder that holds it: set {DATA_DIR_ENV}=/path/to/data "
            "or pass data_dir=... (CLI: --data-dir)."
        ) from err
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target
