"""Ray Tune runs of both kinds and what they share.

* :mod:`~orchestrator.runs.store` — THE store (local path or pyarrow URI), atomic parts;
* :mod:`~orchestrator.runs.ledger` — run statuses (append-only events + ``runs.parquet``);
* :mod:`~orchestrator.runs.sweepdir` — the one reader of a sweep directory;
* :mod:`~orchestrator.runs.tune` — trial function, resources, searchers, Tune storage;
* :mod:`~orchestrator.runs.recorder` — driver-side bookkeeping (rows → store, status → ledger);
* :mod:`~orchestrator.runs.sweep` — training sweeps (``Sweep(spec).run()``);
* :mod:`~orchestrator.runs.tts` — test-time runs (``TTSRun(spec).run()``).

Ray itself is started by :func:`evaluators.ray_init.init_ray` (shared with the vLLM actor
engine, which needs Ray without Tune).
"""
