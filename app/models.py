"""The model picker's list: baselines, the oracle and every checkpoint directory found on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

BUILTIN = ["baseline:copy", "baseline:constvel", "baseline:ballistic", "oracle"]
MAX_DEPTH = 4  # runs/<run>/ckpt is depth 2; deeper trees are datasets and logs, not models


def _is_scratch(name: str) -> bool:
    """Half-written or replaced checkpoints (PATH.tmp-PID, PATH.old-PID) and hidden folders."""
    return name.startswith(".") or ".tmp-" in name or ".old-" in name


def _adapter_spec(d: Path) -> str:
    """hf:BASE@DIR for a LoRA adapter directory; BASE from its adapter_config.json (empty if unreadable)."""
    try:
        base = json.loads((d / "adapter_config.json").read_text()).get("base_model_name_or_path") or ""
    except (OSError, ValueError, AttributeError):
        base = ""
    return f"hf:{base}@{d}"


def find_models(dirs: list[str]) -> list[str]:
    """Model specs: BUILTIN, then gpt:DIR for each dir holding gpt_config.json and hf:BASE@DIR for each
    dir holding adapter_config.json, under `dirs` (sorted; missing dirs are skipped)."""
    found: list[str] = []
    for root in dirs:
        root_depth = len(Path(root).parts)
        for cur, subdirs, files in os.walk(root):
            d = Path(cur)
            if "gpt_config.json" in files:
                found.append(f"gpt:{d}")
                subdirs[:] = []
            elif "adapter_config.json" in files:
                found.append(_adapter_spec(d))
                subdirs[:] = []
            else:
                keep = len(d.parts) - root_depth < MAX_DEPTH
                subdirs[:] = sorted(s for s in subdirs if keep and not _is_scratch(s))
    return BUILTIN + sorted(dict.fromkeys(found))
