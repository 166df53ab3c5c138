"""The training infrastructure both model families share.

- :mod:`.solver`: the contract a model family implements (:class:`~.solver.Solver`).
- :mod:`.trainer`: the loop (:func:`~.trainer.train`), with :mod:`.data` (resumable batches),
  :mod:`.checkpoint`, :mod:`.best` (the best checkpoint's metric and value), :mod:`.resume`
  (changed optimizer settings over a restored state), :mod:`.monitor` (TensorBoard, log,
  progress), :mod:`.distributed` (DDP) and :mod:`.precision`.
- :mod:`.run`: run folders, :func:`~.run.load_run` and sample sets; :mod:`.registry` maps a
  config to its solver.
"""
