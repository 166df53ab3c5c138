"""The best checkpoint: it follows ``train.best_metric`` at its ``train.best_mode`` end; an
unknown metric is named before training.
"""

from __future__ import annotations

import pytest
from helpers.train import SPEC, tiny_cfg, tiny_roll, train_log

from pianoroll_gan.train import checkpoint as ckpt
from pianoroll_gan.train.data import RollDataset
from pianoroll_gan.train.trainer import train


class FakeResults:
    def __init__(self, value):
        self.value = value

    def scalars(self):
        return {"score": self.value, "other": 1.0}


@pytest.mark.parametrize("mode, best_step", [("max", 4), ("min", 6)])
def test_best_checkpoint_follows_metric(tmp_path, monkeypatch, mode, best_step):
    import pianoroll_gan.metrics as metrics

    values = iter([0.3, 0.9, 0.1])  # at steps 2, 4, 6

    def fake_evaluate(roll, spec, **kw):  # 3 samples: an evaluation; 2: the metric names probe
        return FakeResults(next(values) if len(roll) == 3 else 0.0)

    monkeypatch.setattr(metrics, "evaluate", fake_evaluate, raising=False)
    cfg = tiny_cfg(
        tmp_path,
        "LinearSolver",
        "train.eval_every=2",
        "train.eval_samples=3",
        "train.best_metric='score'",
        f"train.best_mode='{mode}'",
        "train.keep_last=1",
    )
    run = train(cfg, run_dir=tmp_path / "r", dataset=RollDataset(tiny_roll(), SPEC))
    best = ckpt.load_checkpoint(run / "checkpoints" / "best.pt")
    assert best["step"] == best_step
    assert best["best"] == {
        "metric": "score",
        "mode": mode,
        "value": {4: 0.9, 6: 0.1}[best_step],
        "step": best_step,
    }
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "best.pt",
        "step_00000006.pt",
    ]
    evals = [e for e in train_log(run) if "eval" in e]
    assert [(e["step"], e["eval"]["score"]) for e in evals] == [(2, 0.3), (4, 0.9), (6, 0.1)]


def test_best_checkpoint_bookkeeping():
    from pianoroll_gan.train.best import BestCheckpoint

    best = BestCheckpoint("score", "min")
    offers = [(0.5, 1), (0.7, 2), (float("nan"), 3), (0.5, 4), (0.2, 5), (float("-inf"), 6)]
    taken = [best.offer({"score": v, "other": 0.0}, step) for v, step in offers]
    # Strictly better only; NaN and infinities are never the best.
    assert taken == [True, False, False, False, True, False]
    assert best.state_dict() == {"metric": "score", "mode": "min", "value": 0.2, "step": 5}
    highest = BestCheckpoint("score", "max")
    assert [highest.offer({"score": v}, i) for i, v in enumerate([0.5, 0.7, 0.7])] == [
        True, True, False,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="'score' is not an evaluation metric; valid: a, b"):
        best.offer({"b": 1.0, "a": 2.0}, 7)
    none = BestCheckpoint("none")
    assert not none.enabled and not none.offer({"score": 1.0}, 1)
    # A resumed run keeps the checkpoint's best value and step, compared by its own setting.
    resumed = BestCheckpoint("score", "max")
    resumed.load_state_dict({"metric": "-score", "value": 0.2, "step": 5})
    assert resumed.state_dict() == {"metric": "score", "mode": "max", "value": 0.2, "step": 5}
    assert not resumed.offer({"score": 0.1}, 6) and resumed.offer({"score": 0.3}, 7)


def test_unknown_best_metric_is_named(tmp_path, monkeypatch):
    import pianoroll_gan.metrics as metrics

    monkeypatch.setattr(metrics, "evaluate", lambda r, s, **kw: FakeResults(0.5), raising=False)
    cfg = tiny_cfg(tmp_path, "LinearSolver", "train.eval_every=2", "train.eval_samples=2")
    cfg.train.best_metric = "scor"
    with pytest.raises(ValueError, match="'scor' is not an evaluation metric; valid: other, score"):
        train(cfg, run_dir=tmp_path / "r", dataset=RollDataset(tiny_roll(), SPEC))
