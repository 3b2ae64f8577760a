"""Re-measures every preset's published numbers and rewrites its metadata.json.

Usage: python benchmarks/presets.py [PRESET ...] [--data-dir DIR]

For each preset, every record of `metadata["evaluation"]` is measured again
under the protocol the record states (split, ways, shots, queries, episodes,
seed, ...): see `metazoo.protocols.remeasure`. The docs' Model zoo page is
generated from these files.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from metazoo.presets import METADATA_FILE, list_presets
from metazoo.protocols import remeasure


def remeasure_preset(path: Path, data_dir: str | None) -> dict:
    metadata = json.loads((path / METADATA_FILE).read_text())
    metadata["evaluation"] = remeasure(path, metadata, data_dir)
    fd, tmp = tempfile.mkstemp(dir=path, suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(metadata, indent=2) + "\n")
    os.replace(tmp, path / METADATA_FILE)
    return metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", help="default: every registered preset")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    registered = list_presets()
    for name in args.presets or sorted(registered):
        if name not in registered:
            raise SystemExit(f"Unknown preset {name!r}. Registered: {sorted(registered)}")
        print(f"== {name}")
        metadata = remeasure_preset(Path(registered[name]["path"]), args.data_dir)
        for record in metadata["evaluation"]:
            print(json.dumps(record))


if __name__ == "__main__":
    main()
