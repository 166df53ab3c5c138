"""Binarizing note probabilities: every decoder of the package.

:func:`decode` thresholds (``"ht"``), samples (``"bs"``) or decodes monophonic lines
(``"viterbi"``); :func:`decode_voices` decodes the voices of four-part writing together
(:func:`viterbi_voices`). The diffusion family's onset/sustain images are read into
probabilities by :mod:`pianoroll_gan.diffusion.representation` and decoded here too.

Decoding note probabilities into monophonic lines with a note-change penalty (Viterbi).

For a track that plays one note at a time (a chorale voice), each step is in one of ``P + 1``
states: silence or one pitch. Treating the model's per-cell probabilities as independent, a
state's log-likelihood at a step is, up to a constant shared by all states,

    score(pitch k) = logit(p_k) - logit(threshold),    score(silence) = 0,

so that on its own each step picks the most probable pitch if it clears ``threshold`` (the
hard threshold with ``max_polyphony = 1``). The decoder then finds, per track, the state path
with the highest total score minus ``penalty`` for every change of state (a new pitch, a rest
starting or ending). With ``penalty = 0`` it is the step-wise rule; with a positive penalty a
one-step blip survives only when the model prefers it by more than ``2 * penalty`` in logits,
which removes the fragmented notes an uncertain generator produces where its probability
wavers between pitches or dips under the threshold for a step. It is a standard HMM
smoothing of frame-wise posteriors (as in pitch trackers and transcription systems).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from .config import EMISSIONS
from .metrics.voice import chord_sets
from .models.musegan_layers import keep_top_k
from .spec import PianorollSpec

__all__ = ["VoicePriors", "decode", "decode_voices", "viterbi_monophonic", "viterbi_voices"]


def viterbi_monophonic(
    probs: torch.Tensor, threshold: float = 0.5, penalty: float = 1.0, eps: float = 1e-6
) -> torch.Tensor:
    """Most probable monophonic line per track under a note-change penalty.

    Args:
        probs: ``(N, tracks, bars, steps, pitches)`` probabilities in [0, 1]; time runs
            across the bars.
        threshold: probability a pitch must exceed to beat silence at a single step.
        penalty: cost of each change of state, in logit units (>= 0).
        eps: probabilities are clipped to ``[eps, 1 - eps]`` before the logit.

    Returns:
        bool tensor of ``probs``' shape with at most one pitch per track and step.
    """
    if probs.dim() != 5:
        raise ValueError(
            f"probs must be (N, tracks, bars, steps, pitches), got {tuple(probs.shape)}"
        )
    if not 0 < threshold < 1 or penalty < 0:
        raise ValueError(f"need 0 < threshold < 1 and penalty >= 0, got {threshold}, {penalty}")
    n, tracks, bars, steps, pitches = probs.shape
    p = probs.detach().float().clamp(eps, 1 - eps).reshape(n * tracks, bars * steps, pitches)
    emit = torch.logit(p) - math.log(threshold / (1 - threshold))
    emit = torch.cat([torch.zeros_like(emit[..., :1]), emit], dim=-1)  # state 0 = silence
    lines, length, _ = emit.shape
    score = emit[:, 0].clone()
    stayed = torch.empty(lines, length, pitches + 1, dtype=torch.bool, device=p.device)
    came_from = torch.empty(lines, length, dtype=torch.long, device=p.device)
    for t in range(1, length):
        best, arg = score.max(dim=-1, keepdim=True)
        switch = best - penalty
        stay = score >= switch  # ties keep the current state
        stayed[:, t] = stay
        came_from[:, t] = arg[:, 0]
        score = torch.where(stay, score, switch) + emit[:, t]
    state = score.argmax(dim=-1)
    path = torch.empty(lines, length, dtype=torch.long, device=p.device)
    rows = torch.arange(lines, device=p.device)
    for t in range(length - 1, -1, -1):
        path[:, t] = state
        if t:
            state = torch.where(stayed[rows, t, state], state, came_from[:, t])
    notes = torch.zeros(lines, length, pitches + 1, dtype=torch.bool, device=p.device)
    notes.scatter_(-1, path[..., None], True)
    return notes[..., 1:].reshape(n, tracks, bars, steps, pitches)


def viterbi_voices(
    probs: torch.Tensor,
    threshold: float = 0.5,
    penalty: float | Sequence[float] = 1.0,
    *,
    lowest_pitch: int,
    chord_weight: float = 0.0,
    chord_sets: torch.Tensor | None = None,
    parallel_weight: float = 0.0,
    crossing_weight: float = 0.0,
    range_weight: float = 0.0,
    voice_ranges: torch.Tensor | None = None,
    candidates: int = 3,
    emission: str = "bernoulli",
    hold: bool = False,
    chunk: int = 64,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Most probable four-part texture: one Viterbi over tuples of the voices' states.

    :func:`viterbi_monophonic` decodes each voice on its own. Here the state at a step is a
    tuple with one state per voice, drawn from that voice's ``candidates - 1`` most probable
    pitches at the step and silence, and the path maximizes

        sum over steps and voices of the voice's score (as in :func:`viterbi_monophonic`)
        - penalty * (changes of state, summed over voices; one penalty per voice if given)
        - chord_weight * (steps that are not a complete chord: where a voice is silent, or
          the pitch-class set is not one of ``chord_sets``;
          charging silent steps too keeps a rest from being a cheap way out of a chord)
        - parallel_weight * (voice pairs moving in parallel perfect fifths or octaves /
          unisons between consecutive steps: a fifth (resp. octave or unison) apart modulo
          the octave at both steps, both voices moving in the same direction)
        - crossing_weight * (adjacent voice pairs where the lower voice sounds above the
          higher one)
        - range_weight * (voices sounding outside their range, ``voice_ranges``).

    It still only chooses among the model's own probabilities: with all three weights 0 and
    enough candidates it is :func:`viterbi_monophonic` per voice. The weights are the
    decoder's prior on four-part writing, so figures decoded with them must be reported as
    such, beside the figures of the plain decoder.

    Args:
        probs: ``(N, voices, bars, steps, pitches)`` probabilities, voices ordered from the
            highest to the lowest.
        threshold, eps: as in :func:`viterbi_monophonic`.
        penalty: cost of each change of a voice's state (as in :func:`viterbi_monophonic`),
            or one cost per voice, high to low (e.g. a bass that moves less often).
        lowest_pitch: MIDI pitch of pitch index 0 (for pitch classes).
        chord_weight, parallel_weight, crossing_weight, range_weight: the priors above
            (logit units, >= 0).
        chord_sets: ``(4096,)`` bool, the pitch-class sets (bit ``c`` = pitch class ``c``)
            that count as chords, for ``chord_weight``
            (:func:`pianoroll_gan.metrics.voice.chord_sets`, the sets the metrics count).
        voice_ranges: ``(voices, 2)`` or, per sample, ``(N, voices, 2)`` lowest and highest
            pitch index (inclusive) of each voice, for ``range_weight`` (per sample when the
            decoded texture is moved to another key afterwards).
        candidates: states per voice and step (silence and the ``candidates - 1`` most
            probable pitches); the tuples number ``candidates ** voices``.
        emission: how a voice's cells at a step score its states. ``"bernoulli"``: each
            cell on its own, ``logit(p_k) - logit(threshold)`` against 0 for silence (as in
            :func:`viterbi_monophonic`). ``"categorical"``: the cells of the candidate
            pitches as one distribution over the voice's states: the voice sounds with
            probability ``s = sum of the candidates' p`` (at most 1), pitch ``k`` with
            ``p_k / max(s, 1)``, silence with ``1 - s``, scored ``log p_k / max(s, 1) -
            log(1 - s) - logit(threshold)`` against 0. A model trained to a one-hot row per
            voice and step with a squared error (the diffusion family's x0) estimates
            exactly that distribution; read cell by cell, a voice whose probability is
            spread over several pitches (0.3, 0.3, 0.2) is silent although it sounds with
            probability 0.8.
        hold: also offer each voice, at every step, the pitch it last sounded (the most
            probable pitch of the latest earlier step at which that pitch cleared
            ``threshold``), in place of its least probable candidate when it is not among
            them, scored by its own probability there. The pruned candidates are an
            approximation of the Viterbi over all pitches; where a voice's probability is
            low and spread, its most probable pitches there are arbitrary and the note it
            was holding is not among them, so the decoder can only rest or leap. With
            ``hold`` it can also keep the note, when the priors and the model's own
            probability of that pitch make that the better path.
        chunk: samples decoded at once (memory grows with ``chunk * candidates ** (2 voices)``).

    Returns:
        bool tensor of ``probs``' shape with at most one pitch per voice and step.
    """
    if probs.dim() != 5:
        raise ValueError(
            f"probs must be (N, voices, bars, steps, pitches), got {tuple(probs.shape)}"
        )
    n, voices, bars, steps, pitches = probs.shape
    penalties = _voice_penalties(penalty, voices)
    weights = (*penalties, chord_weight, parallel_weight, crossing_weight, range_weight)
    if not 0 < threshold < 1 or min(weights) < 0:
        raise ValueError("need 0 < threshold < 1 and penalty and weights >= 0")
    if range_weight and voice_ranges is None:
        raise ValueError("range_weight needs voice_ranges")
    if chord_weight and chord_sets is None:
        raise ValueError("chord_weight needs chord_sets")
    if emission not in EMISSIONS:
        raise ValueError(f"emission: invalid {emission!r}; valid: {', '.join(EMISSIONS)}")
    if voice_ranges is not None:
        voice_ranges = torch.as_tensor(voice_ranges, device=probs.device)
        voice_ranges = voice_ranges.expand(probs.shape[0], probs.shape[1], 2)
    k = max(2, min(int(candidates), pitches + 1))
    out = torch.zeros(probs.shape, dtype=torch.bool, device=probs.device)
    for start in range(0, n, chunk):
        part = probs[start : start + chunk]
        ranges = None if voice_ranges is None else voice_ranges[start : start + chunk]
        out[start : start + chunk] = _decode_tuples(
            part, threshold, penalties, lowest_pitch, chord_weight, chord_sets, parallel_weight,
            crossing_weight, range_weight, ranges, k, emission, hold, eps,
        )  # fmt: skip
    return out


def _voice_penalties(penalty: float | Sequence[float], voices: int) -> tuple[float, ...]:
    """One change penalty per voice from one for all or one per voice (checked)."""
    if isinstance(penalty, (int, float)):
        return (float(penalty),) * voices
    penalties = tuple(float(p) for p in penalty)
    if len(penalties) != voices:
        raise ValueError(
            f"penalty: {len(penalties)} per-voice values for {voices} voices; give one per "
            "voice, high to low, or one for all"
        )
    return penalties


def _decode_tuples(
    probs: torch.Tensor,
    threshold: float,
    penalty: tuple[float, ...],
    lowest_pitch: int,
    chord_weight: float,
    chord_sets: torch.Tensor | None,
    parallel_weight: float,
    crossing_weight: float,
    range_weight: float,
    voice_ranges: torch.Tensor | None,
    k: int,
    emission: str,
    hold: bool,
    eps: float,
) -> torch.Tensor:
    n, voices, bars, steps, pitches = probs.shape
    length = bars * steps
    device = probs.device
    p = probs.detach().float().clamp(eps, 1 - eps)
    p = p.permute(0, 2, 3, 1, 4).reshape(n, length, voices, pitches)
    bias = math.log(threshold / (1 - threshold))
    top = p.topk(k - 1, dim=-1)  # the candidate pitches: the same under either emission
    values, indices = top.values, top.indices
    if hold:
        indices = _with_held_pitch(values, indices, threshold)
        values = p.gather(-1, indices)
    if emission == "categorical":
        sounding = values.sum(-1, keepdim=True)
        scores = torch.log(values / sounding.clamp(min=1)) - torch.log(
            (1 - sounding).clamp(min=eps)
        )
    else:
        scores = torch.logit(values)
    top_scores = scores - bias
    silence = torch.zeros_like(top_scores[..., :1])
    cand_score = torch.cat([silence, top_scores], -1)  # (n, L, V, k)
    cand_pitch = torch.cat([silence.long() - 1, indices], -1)  # -1 = silence
    grid = torch.cartesian_prod(*[torch.arange(k, device=device)] * voices)  # (T, V)
    if voices == 1:
        grid = grid[:, None]
    pitch = torch.stack([cand_pitch[:, :, v, grid[:, v]] for v in range(voices)], -1)
    unary = sum(cand_score[:, :, v, grid[:, v]] for v in range(voices))  # (n, L, T)
    sounding = pitch >= 0  # (n, L, T, V)
    if chord_weight:
        pc = (pitch + lowest_pitch) % 12
        mask = torch.zeros_like(pitch[..., 0])
        for v in range(voices):
            mask = mask | torch.where(sounding[..., v], 1 << pc[..., v], 0)
        chord = torch.as_tensor(chord_sets, device=device)[mask]
        unary = unary - chord_weight * (~(sounding.all(-1) & chord)).float()
    if crossing_weight:
        both = sounding[..., :-1] & sounding[..., 1:]
        crossed = (both & (pitch[..., :-1] < pitch[..., 1:])).sum(-1)
        unary = unary - crossing_weight * crossed.float()
    if range_weight:
        low = voice_ranges[:, None, None, :, 0]  # (n, 1, 1, V)
        high = voice_ranges[:, None, None, :, 1]
        outside = sounding & ((pitch < low) | (pitch > high))
        unary = unary - range_weight * outside.sum(-1).float()
    pairs = [(i, j) for i in range(voices) for j in range(i + 1, voices)]
    n_tuples = grid.shape[0]
    # The transition between two tuples is a sum of terms over one voice (a change of state)
    # and over two voices (parallel motion), so each term is built on the voices' own
    # candidates, (n, k, k) or (n, k, k, k, k), and broadcast over the (n, k^V, k^V) grid.
    dims = 1 + 2 * voices  # sample, then the V "from" candidates, then the V "to" candidates

    def place(term: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
        shape = [n] + [1] * (dims - 1)
        for axis in axes:
            shape[axis] = k
        return term.reshape(shape)

    score = unary[:, 0].clone()
    back = torch.empty(n, length, n_tuples, dtype=torch.long, device=device)
    # One (n, k^V, k^V) buffer for every step's transition scores, each term subtracted in
    # place: a fresh tensor of that size per term and step (100 MB at 64 samples and five
    # candidates) costs more in page faults than the arithmetic.
    total = torch.empty([n] + [k] * (2 * voices), device=device)
    flat = total.view(n, n_tuples, n_tuples)
    best = torch.empty(n, n_tuples, device=device)
    arg = torch.empty(n, n_tuples, dtype=torch.long, device=device)
    for t in range(1, length):
        a, b = cand_pitch[:, t - 1], cand_pitch[:, t]  # (n, V, k)
        total.copy_(place(score, tuple(range(1, voices + 1))).expand_as(total))
        for v in range(voices):
            changed = (a[:, v, :, None] != b[:, v, None, :]).float()
            total.sub_(penalty[v] * place(changed, (1 + v, 1 + voices + v)))
        if parallel_weight:
            for i, j in pairs:
                ai, aj = a[:, i, :, None, None, None], a[:, j, None, :, None, None]
                bi, bj = b[:, i, None, None, :, None], b[:, j, None, None, None, :]
                live = (ai >= 0) & (aj >= 0) & (bi >= 0) & (bj >= 0)
                ia, ib = (ai - aj) % 12, (bi - bj) % 12
                mi, mj = torch.sign(bi - ai), torch.sign(bj - aj)
                par = live & ((ia == 0) | (ia == 7)) & (ia == ib) & (mi == mj) & (mi != 0)
                axes = (1 + i, 1 + j, 1 + voices + i, 1 + voices + j)
                total.sub_(parallel_weight * place(par.float(), axes))
        torch.max(flat, dim=1, out=(best, arg))
        back[:, t] = arg
        score = best + unary[:, t]
    state = score.argmax(dim=-1)
    rows = torch.arange(n, device=device)
    chosen = torch.empty(n, length, voices, dtype=torch.long, device=device)
    for t in range(length - 1, -1, -1):
        chosen[:, t] = pitch[rows, t, state]
        if t:
            state = back[rows, t, state]
    notes = torch.zeros(n, length, voices, pitches + 1, dtype=torch.bool, device=device)
    notes.scatter_(-1, (chosen + 1)[..., None], True)
    notes = notes[..., 1:].reshape(n, bars, steps, voices, pitches)
    return notes.permute(0, 3, 1, 2, 4)


def _with_held_pitch(
    values: torch.Tensor, indices: torch.Tensor, threshold: float
) -> torch.Tensor:
    """The candidate pitches ``indices`` ``(n, L, V, c)`` and their probabilities ``values``
    (most probable first) with each voice's held pitch in the last place where it is not among
    them: the most probable pitch of the latest earlier step at which it cleared
    ``threshold`` (none before the voice first does)."""
    best_p, best = values[..., 0], indices[..., 0]  # (n, L, V)
    length = values.shape[1]
    steps = torch.arange(length, device=values.device).view(1, length, 1)
    last = torch.where(best_p > threshold, steps, -1).cummax(dim=1).values
    before = torch.cat([torch.full_like(last[:, :1], -1), last[:, :-1]], dim=1)
    held = best.gather(1, before.clamp(min=0))  # (n, L, V)
    offer = (before >= 0) & (indices != held[..., None]).all(-1)
    out = indices.clone()
    out[..., -1] = torch.where(offer, held, indices[..., -1])
    return out


@dataclass(frozen=True)
class VoicePriors:
    """Settings of the joint voice decoder (:func:`viterbi_voices`), in logit units.

    Attributes:
        threshold: probability a pitch must exceed to beat silence at a single step.
        penalty: cost of each change of a voice's state, or one per voice (high to low).
        chord, parallel, crossing, range: the priors on four-part writing (``chord_weight``,
            ``parallel_weight``, ``crossing_weight``, ``range_weight``).
        candidates: states per voice and step (silence and the most probable pitches).
        emission: ``"bernoulli"`` or ``"categorical"`` (:func:`viterbi_voices`).
        hold: offer each voice the pitch it last sounded (:func:`viterbi_voices`).
    """

    threshold: float = 0.5
    penalty: float | tuple[float, ...] = 1.0
    chord: float = 0.0
    parallel: float = 0.0
    crossing: float = 0.0
    range: float = 0.0
    candidates: int = 3
    emission: str = "bernoulli"
    hold: bool = False

    @classmethod
    def from_settings(cls, cfg: Any, options: Mapping[str, Any]) -> VoicePriors:
        """The priors of a family config (a :class:`~pianoroll_gan.config.VoiceDecodingConfig`
        with a ``threshold``), each replaced by the sampling option of the same name if
        given. A non-empty ``voice_penalty`` (one per voice) takes the place of ``penalty``."""

        def get(key: str) -> Any:
            return options.get(key, getattr(cfg, key))

        per_voice = tuple(get("voice_penalty"))
        return cls(
            threshold=get("threshold"),
            penalty=per_voice or get("penalty"),
            chord=get("chord_prior"),
            parallel=get("parallel_prior"),
            crossing=get("crossing_prior"),
            range=get("range_prior"),
            candidates=get("voice_candidates"),
            emission=get("emission"),
            hold=bool(get("voice_hold")),
        )


def decode_voices(
    probs: torch.Tensor,
    spec: PianorollSpec,
    priors: VoicePriors,
    shift: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`viterbi_voices` with the chord sets the metrics count and the spec's voice ranges.

    Args:
        probs: ``(N, voices, bars, steps, pitches)`` probabilities of a spec whose tracks are
            voices ordered from high to low (``spec.voices``).
        spec: gives the lowest pitch and the voices' ranges (``spec.voice_ranges``; without
            them the range prior has nothing to charge and is left out).
        priors: the decoder's settings.
        shift: ``(N,)`` semitones each sample is moved by after decoding (key-normalized
            models decode in one key collection): the ranges are moved the other way, so they
            hold where the notes end up.

    Returns:
        bool tensor of ``probs``' shape, at most one pitch per voice and step.
    """
    if not spec.voices:
        raise ValueError(
            f"voice decoding needs tracks that are voices ordered high to low; spec "
            f"{spec.name!r} does not mark its tracks as voices"
        )
    n = probs.shape[0]
    ranges = None
    if spec.voice_ranges is not None and priors.range:
        ranges = torch.tensor(spec.voice_ranges) - spec.lowest_pitch  # (V, 2)
        ranges = ranges.expand(n, -1, -1)
        if shift is not None:
            ranges = ranges - torch.as_tensor(shift).reshape(n, 1, 1)
    return viterbi_voices(
        probs,
        priors.threshold,
        priors.penalty,
        lowest_pitch=spec.lowest_pitch,
        chord_weight=priors.chord,
        chord_sets=torch.from_numpy(chord_sets()) if priors.chord else None,
        parallel_weight=priors.parallel,
        crossing_weight=priors.crossing,
        range_weight=priors.range if ranges is not None else 0.0,
        voice_ranges=ranges,
        candidates=priors.candidates,
        emission=priors.emission,
        hold=priors.hold,
    )


def decode(
    probs: torch.Tensor,
    binarize: str = "ht",
    threshold: float = 0.5,
    max_polyphony: int | Literal["all"] = "all",
    generator: torch.Generator | list[torch.Generator] | None = None,
    penalty: float = 1.0,
) -> torch.Tensor:
    """Binarize note probabilities ``(N, tracks, bars, steps, pitches)`` -> bool.

    Args:
        probs: probabilities in [0, 1] (``(tanh + 1) / 2`` or the sigmoid of the logits).
        binarize: ``"ht"`` hard threshold at ``threshold``; ``"bs"`` Bernoulli sampling;
            ``"viterbi"`` the most probable monophonic line per track, each change of note
            costing ``penalty`` logits (:func:`pianoroll_gan.decoding.viterbi_monophonic`;
            at most one pitch per step, ``max_polyphony`` aside).
        max_polyphony: keep at most this many of the most probable pitches per track and
            step (e.g. 1 for monophonic voices); ``"all"`` keeps all.
        generator: random source of Bernoulli sampling (on the CPU), or one per sample.
    """
    if binarize not in ("ht", "bs", "viterbi"):
        raise ValueError(
            f"unknown binarize {binarize!r}; valid choices: ['ht', 'bs', 'viterbi'] (and "
            "'voices', decode_voices)"
        )
    if binarize == "viterbi":
        return viterbi_monophonic(probs, threshold, penalty)
    if binarize == "ht":
        notes = probs > threshold
    else:
        if generator is None or isinstance(generator, torch.Generator):
            u = torch.rand(probs.shape, generator=generator)
        else:  # one stream per sample
            u = torch.stack([torch.rand(probs.shape[1:], generator=g) for g in generator])
        u = u.to(probs.device)
        notes = probs > u
    return keep_top_k(notes, probs, max_polyphony)
