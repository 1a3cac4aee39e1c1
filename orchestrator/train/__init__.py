"""Training: the model family (:mod:`~orchestrator.train.model`), data sources
(:mod:`~orchestrator.train.data`), tokenizers, LR schedules, the training loop
(:mod:`~orchestrator.train.loop`) and Ray Train DDP (:mod:`~orchestrator.train.ddp`).

Nothing is imported here: ``orchestrator.train.model`` stays free of torch for the spec checks.
"""
