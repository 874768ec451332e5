"""Where the app writes scenes: numbered scene JSON files and a scenes.jsonl for `physics-llm eval --scenes`."""

from __future__ import annotations

from pathlib import Path

from physics_llm.sim.scene import Scene, save_scene

JSONL_NAME = "scenes.jsonl"


def save_numbered(scene: Scene, directory: str | Path, prefix: str = "scene") -> Path:
    """Write DIR/prefix-NNNN.json with the first number not taken; returns the path."""
    d = Path(directory)
    k = 1
    while (d / f"{prefix}-{k:04d}.json").exists():
        k += 1
    path = d / f"{prefix}-{k:04d}.json"
    save_scene(scene, path)
    return path


def append_jsonl(scene: Scene, directory: str | Path) -> tuple[Path, int]:
    """Append the scene as one line to DIR/scenes.jsonl; returns the path and its number of scenes."""
    path = Path(directory) / JSONL_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(scene.to_json() + "\n")
    with path.open() as f:
        count = sum(1 for line in f if line.strip())
    return path, count
