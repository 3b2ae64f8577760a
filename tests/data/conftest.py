"""Fixtures of the data tests: a tiny Omniglot data folder."""

import pytest

from metazoo.data import omniglot, omniglot_files
from tests.data.tiny_omniglot import TINY_CHARACTERS, write_tiny_zip


@pytest.fixture
def tiny_omniglot(tmp_path, monkeypatch):
    """A data folder with tiny official-layout zips; prepared files go to `tmp_path/prepared`."""
    folder = tmp_path / "data"
    folder.mkdir()
    for stem in TINY_CHARACTERS:
        write_tiny_zip(folder / f"{stem}.zip", stem)
    monkeypatch.setattr(omniglot_files, "EXPECTED_IMAGES", {})  # the drawing-count check
    monkeypatch.setenv("METAZOO_PREPARED_DIR", str(tmp_path / "prepared"))
    omniglot._load_cached.cache_clear()
    yield folder
    omniglot._load_cached.cache_clear()
