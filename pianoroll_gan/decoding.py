"""Decoding note probabilities into monophonic lines with a note-change penalty (Viterbi).

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

import torch

__all__ = ["viterbi_monophonic"]


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
