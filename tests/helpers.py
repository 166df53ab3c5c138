"""Helpers shared by several test files (imported as ``from helpers import ...``)."""

from __future__ import annotations

from typing import Any

# Settings older versions spelled as 0 or "": (section, key) -> (today's value, old spelling).
OLD_SPELLINGS = {
    ("gan", "lr_decay_start"): ("off", 0),
    ("data", "max_files"): ("all", 0),
    ("train", "qn_threshold"): ("auto", 0),
    ("train", "threads"): ("auto", 0),
    ("train", "solver"): ("family", ""),
}


def legacy_config_table(cfg: Any) -> dict[str, Any]:
    """``cfg``'s settings table as older versions wrote it into ``config.toml`` and
    checkpoints: each setting of :data:`OLD_SPELLINGS` that holds today's value in its old
    spelling, no ``train.best_mode``, and ``train.best_metric`` as ``"-KEY"`` for a
    minimized metric and ``""`` for none.
    """
    table = cfg.to_dict()
    for (section, key), (today, old) in OLD_SPELLINGS.items():
        if table[section][key] == today:
            table[section][key] = old
    train = table["train"]
    mode, metric = train.pop("best_mode"), train["best_metric"]
    if metric == "none":
        assert mode == "max", "best_mode = 'min' without a best_metric has no old spelling"
        train["best_metric"] = ""
    elif mode == "min":
        train["best_metric"] = f"-{metric}"
    return table
