"""Benchmark of the metrics module against a per-sample loop over muspy's metrics.

Figures printed (all on "music-like" random rolls of the lpd5 spec: 4 bars x 5 tracks, a
chord per bar, triads on piano / guitar / strings, a bass line, a drum pattern on the 16th
grid with a few onsets one step off):

1. the full per-track and per-pair suite (EB, UPC, QN, PP, DP, TD, polyphony, pitch
   statistics, entropy, scale and groove consistency) on 5,000 samples = 20,000 bars per
   track, MuseGAN's evaluation size;
2. :func:`pianoroll_gan.metrics.evaluate` on 1,000 samples against a 1,000-sample reference
   (both rows plus the distribution metrics);
3. the same per-track metrics through muspy 0.5, one sample at a time (a ``muspy.Music`` per
   track, and per track and bar for UPC, built from the roll; then muspy's per-music
   metrics; QN and TD, which muspy lacks, from the Music's notes and piano roll), timed on
   a subset and extrapolated linearly.
"""

from __future__ import annotations

import time

import numpy as np

from ..spec import PianorollSpec, get_spec
from .common import time_call

__all__ = ["music_like_roll", "run"]

_CHORD = (0, 4, 7)


def music_like_roll(n: int, spec: PianorollSpec, seed: int = 0) -> np.ndarray:
    """Random rolls with musical structure, ``(n, tracks, bars, S, P)`` bool.

    Melodic tracks play chord tones of one random major triad per bar on a grid of half beats
    (new note 60 %, held 30 %, rest 10 %; a new note ends the previous one a step early);
    the bass track (by name, else the last melodic one) plays single chord tones, the
    others triads. Drum tracks hit four drum pitches on the 16th-note grid, 10 % of hits
    one step late.
    """
    rng = np.random.default_rng(seed)
    k, b, s, p = spec.sample_shape
    r = spec.resolution
    slot = max(1, r // 2)  # steps per half beat
    n_slots = b * s // slot
    x = np.zeros((n, k, b * s, p), bool)
    roots = rng.integers(0, 12, size=(n, b))
    slot_root = np.repeat(roots, n_slots // b, axis=1)  # (n, slots)
    melodic = [i for i, d in enumerate(spec.is_drum) if not d]
    named_bass = [i for i in melodic if "bass" in spec.track_names[i].lower()]
    bass_track = named_bass[0] if named_bass else melodic[-1]
    for rank, track in enumerate(melodic):
        bass_line = track == bass_track and len(melodic) > 1
        octave = 36 if bass_line else 48 + 12 * (rank % 3)
        state = rng.choice(3, size=(n, n_slots), p=(0.6, 0.3, 0.1))  # 0 new, 1 hold, 2 rest
        state[:, 0] = 0
        new_id = np.maximum.accumulate(np.where(state == 0, np.arange(n_slots), 0), axis=1)
        root = np.take_along_axis(slot_root, new_id, axis=1)  # (n, slots)
        pick = rng.integers(0, 3, size=(n, n_slots))  # the bass's chord tone per note
        pick = np.take_along_axis(pick, new_id, axis=1)
        for j in range(1) if bass_line else range(3):
            interval = np.asarray(_CHORD)[pick] if bass_line else _CHORD[j]
            pitch = octave + (root + interval) % 12
            pitch = np.clip(pitch - spec.lowest_pitch, 0, p - 1)  # (n, slots)
            steps = np.repeat(pitch, slot, axis=1)  # (n, T)
            on = np.repeat(state != 2, slot, axis=1)
            ends = np.zeros((n, n_slots, slot), bool)
            ends[:, :-1, -1] = state[:, 1:] == 0  # articulate before a new note
            on &= ~ends.reshape(n, -1)
            ni, ti = np.nonzero(on)
            x[ni, track, ti, steps[ni, ti]] = True
    g = max(1, r // 4)
    for track in np.flatnonzero(spec.drum_mask):
        for drum, prob in ((36, 0.3), (38, 0.2), (42, 0.6), (46, 0.1)):
            hits = rng.random((n, b * s // g)) < prob
            ni, gi = np.nonzero(hits)
            ti = gi * g + (rng.random(gi.size) < 0.1)
            pi = min(max(drum - spec.lowest_pitch, 0), p - 1)
            x[ni, track, np.minimum(ti, b * s - 1), pi] = True
    return x.reshape(n, k, b, s, p)


def _muspy_track(roll: np.ndarray, spec: PianorollSpec, track: int):
    """``muspy.Music`` of one track from its roll ``(steps, P)``: each run of a pitch is a note."""
    import muspy

    full = np.zeros((roll.shape[0], 128), bool)
    full[:, spec.lowest_pitch : spec.lowest_pitch + spec.n_pitches] = roll
    return muspy.from_pianoroll_representation(
        full, resolution=spec.resolution, program=spec.programs[track],
        is_drum=spec.is_drum[track], encode_velocity=False,
    )  # fmt: skip


def _muspy_loop(roll: np.ndarray, spec: PianorollSpec) -> tuple[float, float]:
    """Wall and CPU seconds of the same per-track suite through muspy, sample by sample.

    muspy has per-music metrics, so each track becomes its own Music (and each bar too,
    for UPC's per-bar pitch classes). muspy has no QN and no TD: QN counts the Music's
    notes, TD takes each track's piano roll from muspy and computes the per-beat tonal
    centroids with numpy, one sample at a time.
    """
    import muspy

    from ..metrics.musical import default_qn_threshold, tonal_centroid_matrix

    s, r, q = spec.steps_per_bar, spec.resolution, default_qn_threshold(spec)
    phi = tonal_centroid_matrix()
    start, start_cpu = time.perf_counter(), time.process_time()
    for sample in roll:
        centroids = []
        for k in range(spec.n_tracks):
            steps = sample[k].reshape(-1, spec.n_pitches)
            music = _muspy_track(steps, spec, k)
            muspy.empty_measure_rate(music, measure_resolution=s)  # EB
            muspy.groove_consistency(music, measure_resolution=s)
            if spec.is_drum[k]:
                muspy.drum_in_pattern_rate(music, meter="duple")  # DP
                continue
            for bar in range(sample.shape[1]):  # UPC, per bar
                muspy.n_pitch_classes_used(_muspy_track(steps[bar * s : (bar + 1) * s], spec, k))
            muspy.polyphony_rate(music, threshold=3)  # PP
            muspy.polyphony(music)
            muspy.pitch_range(music)
            muspy.n_pitches_used(music)
            muspy.n_pitch_classes_used(music)
            muspy.pitch_class_entropy(music)
            muspy.scale_consistency(music)
            notes = music.tracks[0].notes if music.tracks else []
            sum(note.duration >= q for note in notes)  # QN
            pianoroll = np.zeros((steps.shape[0], 132))
            played = music.to_pianoroll_representation(encode_velocity=False)
            pianoroll[: len(played), :128] = played[: steps.shape[0]]
            chroma = pianoroll.reshape(-1, r, 11, 12).sum(axis=(1, 2))  # (beats, 12)
            mass = chroma.sum(axis=1, keepdims=True)
            centroids.append((chroma / np.maximum(mass, 1) @ phi.T, mass[:, 0] > 0))
        for a in range(len(centroids)):  # TD, per pair
            for c in range(a + 1, len(centroids)):
                both = centroids[a][1] & centroids[c][1]
                np.linalg.norm(centroids[a][0] - centroids[c][0], axis=1)[both].mean()
    return time.perf_counter() - start, time.process_time() - start_cpu


def _cpu_seconds(fn, repeat: int = 3) -> float:
    """Best process CPU time of ``fn()``: steadier than wall time on a shared machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def run(quick: bool = False) -> dict:
    """Time the metric suite and the muspy loop; print and return the figures."""
    from ..metrics import evaluate
    from ..metrics.musical import musical_metrics

    spec = get_spec("lpd5")
    n_suite, n_dist, n_muspy = (500, 200, 20) if quick else (5000, 1000, 200)
    roll = music_like_roll(n_suite, spec, seed=0)
    bars = n_suite * spec.n_bars
    print(f"rolls: {n_suite} samples x {spec.sample_shape} (lpd5), {bars} bars per track")

    def suite():
        return musical_metrics(roll, spec)

    suite_s = time_call(suite, repeat=3, warmup=1)
    suite_cpu = _cpu_seconds(suite)
    print(
        f"per-track suite, {n_suite} samples: {suite_s:.3f} s wall, {suite_cpu:.3f} s CPU "
        f"({bars / suite_s:,.0f} bars per track per s)"
    )

    gen, ref = roll[:n_dist], music_like_roll(n_dist, spec, seed=1)

    def with_reference():
        return evaluate(gen, spec, reference=ref)

    dist_s = time_call(with_reference, repeat=2, warmup=0)
    dist_cpu = _cpu_seconds(with_reference, repeat=2)
    print(
        f"evaluate with reference (both rows + OA/KL + framewise), {n_dist} vs {n_dist} "
        f"samples: {dist_s:.3f} s wall, {dist_cpu:.3f} s CPU"
    )

    subset_s, subset_cpu = _muspy_loop(roll[:n_muspy], spec)
    scale = n_suite / n_muspy
    muspy_s, muspy_cpu = subset_s * scale, subset_cpu * scale
    print(
        f"muspy per-sample loop (same per-track metrics; QN, TD by hand): {subset_s:.2f} s "
        f"wall, {subset_cpu:.2f} s CPU for {n_muspy} samples, extrapolated linearly to "
        f"{n_suite}: {muspy_s:.1f} s wall, {muspy_cpu:.1f} s CPU"
    )
    print(
        f"speed-up over the muspy loop: {muspy_s / suite_s:,.0f}x wall, "
        f"{muspy_cpu / suite_cpu:,.0f}x CPU"
    )
    return {
        "n_samples": n_suite,
        "suite_s": suite_s,
        "suite_cpu_s": suite_cpu,
        "n_distribution": n_dist,
        "evaluate_with_reference_s": dist_s,
        "evaluate_with_reference_cpu_s": dist_cpu,
        "muspy_subset": n_muspy,
        "muspy_subset_s": subset_s,
        "muspy_subset_cpu_s": subset_cpu,
        "muspy_extrapolated_s": muspy_s,
        "muspy_extrapolated_cpu_s": muspy_cpu,
        "speedup": muspy_s / suite_s,
        "speedup_cpu": muspy_cpu / suite_cpu,
    }
