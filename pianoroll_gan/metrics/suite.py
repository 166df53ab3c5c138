"""``evaluate``: every metric of a set of samples, with a reference set if given."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..spec import PianorollSpec
from .chords import chord_accuracy, parse_chords
from .distribution import (
    extract_notes,
    feature_oa_kl,
    frame_overlaps,
    framewise_similarity,
    sample_features,
)
from .musical import default_qn_threshold, musical_metrics
from .results import Results
from .rolls import as_bool_roll
from .voice import scan_voices, voice_metrics

__all__ = ["evaluate"]


def evaluate(
    roll: Any,
    spec: PianorollSpec,
    reference: Any = None,
    *,
    qn_threshold: int | None = None,
    name: str = "model",
    reference_name: str = "training data",
    chords: str | tuple[Any, Any] | None = None,
) -> Results:
    """Evaluate a set of samples.

    Specs of voices (``spec.voices``) add the voice-leading metrics of :mod:`.voice` to each
    row and the ``chord_quality`` feature to OA / KL.

    Args:
        roll: ``(N, tracks, bars, S, P)`` binary samples, numpy or torch (any device).
        spec: their spec; ``reference`` must share it (its number of bars may differ).
        reference: optional reference set (e.g. training or test data) in the same layout:
            adds its own metrics row and the distribution metrics (OA / KL per feature,
            framewise self-similarity) of ``roll`` against it.
        qn_threshold: QN's minimum note length in steps (default ``ceil(r / 8)``).
        name, reference_name: row labels.
        chords: the chord condition the samples were generated from, as symbols
            (``"C G Am F"``, one chord per bar) or per-beat ``(root, quality)`` arrays; adds
            ``chord_accuracy``.
    Returns:
        :class:`~pianoroll_gan.metrics.results.Results`.
    """
    x = as_bool_roll(roll, spec, "samples")
    q = default_qn_threshold(spec) if qn_threshold is None else int(qn_threshold)

    def row(y: np.ndarray) -> tuple[dict, Any]:
        metrics = musical_metrics(y, spec, qn_threshold=q)
        scan = scan_voices(y, spec) if spec.voices else None
        if scan is not None:
            metrics.update(voice_metrics(y, spec, scan))
        return metrics, scan

    metrics, scan_x = row(x)
    results = Results(name=name, spec=spec, metrics=metrics, n_samples=x.shape[0], qn_threshold=q)
    if reference is not None:
        ref = as_bool_roll(reference, spec, "reference")
        results.reference_name = reference_name
        results.reference, scan_ref = row(ref)
        results.n_reference = ref.shape[0]
        notes_x, notes_ref = extract_notes(x, spec), extract_notes(ref, spec)
        oa, kl = feature_oa_kl(
            sample_features(x, spec, notes_x, scan_x),
            sample_features(ref, spec, notes_ref, scan_ref),
        )
        fss = framewise_similarity(
            frame_overlaps(x, spec, notes=notes_x), frame_overlaps(ref, spec, notes=notes_ref)
        )
        results.distribution.update(
            OA=oa, KL=kl, FSS_consistency=fss["consistency"], FSS_variance=fss["variance"]
        )
    if chords is not None:
        n_beats = x.shape[2] * spec.beats_per_bar
        if isinstance(chords, str):
            root, quality = parse_chords(chords, n_beats, beats_per_chord=spec.beats_per_bar)
        else:
            root, quality = (np.asarray(a) for a in chords)
        accuracy = chord_accuracy(x, spec, root, quality)
        results.distribution["chord_accuracy"] = {"all": accuracy}
    return results
