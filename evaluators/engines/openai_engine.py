"""The ``openai`` engine: any OpenAI-compatible ``/v1/completions`` server, over httpx.

One HTTP request per prompt (carrying ``n``), at most ``concurrency`` in flight (a thread
pool). Connection errors, timeouts and 5xx answers are retried with exponential backoff
(``backoff · 2^attempt`` seconds, ``max_retries`` times); a 4xx answer raises a one-line
:class:`EvaluatorError` with the status and the server's message.

Prompts may be text or token-id lists (the completions API accepts both). With
``vllm_extras=True`` (default) the request also asks a vLLM server for token ids
(``return_token_ids``) and stop strings kept in the output (``include_stop_str_in_output``);
set it False for servers that reject unknown fields (token counts then come from logprobs or
a local tokenizer). ``model_dir`` (a local HF directory, optional; defaults to ``model`` when
that is a local directory) gives the tokenizer and the :class:`ModelShape` for FLOP
accounting; without it ``tokenize`` uses the server's
``/tokenize`` endpoint and ``n_params`` is 0.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from evaluators.accounting import ModelShape
from evaluators.engines import check_n_per_prompt, register_engine, request_seeds
from evaluators.errors import EvaluatorError
from evaluators.types import Prompt, Sample, SamplingSpec


class OpenAIEngine:
    """Client for an OpenAI-compatible completions server (see the module docstring)."""

    def __init__(self, base_url: str, model: str, *, model_dir: str | None = None,
                 model_id: str | None = None, api_key: str | None = None,
                 concurrency: int = 8, max_retries: int = 5, backoff: float = 0.5,
                 timeout: float = 300.0, vllm_extras: bool = True):
        import httpx

        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise EvaluatorError(f"openai engine: base_url must be an http(s) URL, got {base_url!r}")
        if not isinstance(concurrency, int) or concurrency < 1:
            raise EvaluatorError(f"openai engine: concurrency must be a positive integer, got {concurrency!r}")
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.model, self.model_id = model, model_id or Path(str(model)).name
        self.concurrency, self.max_retries, self.backoff = concurrency, int(max_retries), float(backoff)
        self.vllm_extras = vllm_extras
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "EMPTY")
        self._client = httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {key}"},
                                    limits=httpx.Limits(max_connections=concurrency))
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="openai-engine")
        self._tok = None
        self.shape: ModelShape | None = None
        if model_dir is None and (Path(str(model)) / "config.json").is_file():
            model_dir = str(model)  # vLLM serves a local directory under its path by default
        if model_dir:
            from transformers import AutoTokenizer

            self.shape = ModelShape.from_hf_dir(model_dir)
            self._tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.n_params = self.shape.n_params if self.shape else 0

    # -- HTTP -------------------------------------------------------------------------------
    def _post(self, path: str, body: dict) -> dict:
        """POST with retries on transport errors and 5xx; 4xx → EvaluatorError."""
        import httpx

        url = self.base_url + path
        for attempt in range(self.max_retries + 1):
            try:
                r = self._client.post(url, json=body)
            except httpx.TransportError as exc:
                err = f"{type(exc).__name__}: {exc}"
            else:
                if r.status_code < 400:
                    return r.json()
                if r.status_code < 500:
                    raise EvaluatorError(
                        f"openai engine: HTTP {r.status_code} from {url}: {_server_message(r)}")
                err = f"HTTP {r.status_code}: {_server_message(r)}"
            if attempt < self.max_retries:
                time.sleep(self.backoff * 2 ** attempt)
        raise EvaluatorError(f"openai engine: {url} failed after {self.max_retries + 1} attempts: {err}")

    # -- Engine interface -------------------------------------------------------------------
    per_prompt_n = True

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingSpec,
                 n_per_prompt: Sequence[int] | None = None,
                 seeds: Sequence[int] | None = None) -> list[list[Sample]]:
        """``sampling.n`` (or ``n_per_prompt[i]``) samples per prompt; prompt ``i`` is seeded
        ``seeds[i]`` if given, else ``seed`` plus the samples of the prompts before it
        (``seed + i·n`` for a uniform n)."""
        if isinstance(prompts, str):
            raise EvaluatorError("engine: prompts must be a list of prompts, got one string")
        ns = check_n_per_prompt(n_per_prompt, len(prompts)) or [sampling.n] * len(prompts)
        seeds = request_seeds(sampling, len(prompts), ns, seeds)
        bodies = []
        for i, p in enumerate(prompts):
            body: dict[str, Any] = {
                "model": self.model, "prompt": p if isinstance(p, str) else [int(t) for t in p],
                "n": ns[i], "max_tokens": sampling.max_tokens,
                "temperature": sampling.temperature, "top_p": sampling.top_p}
            if sampling.stop:
                body["stop"] = list(sampling.stop)
            if seeds[i] is not None:
                body["seed"] = seeds[i]
            if sampling.logprobs:
                body["logprobs"] = 1
            if self.vllm_extras:
                body.update(return_token_ids=True, include_stop_str_in_output=sampling.include_stop)
            bodies.append(body)
        answers = list(self._pool.map(lambda b: self._post("/v1/completions", b), bodies))
        return [self._samples(a, p, sampling) for a, p in zip(answers, prompts)]

    def _samples(self, answer: dict, prompt: Prompt, sampling: SamplingSpec) -> list[Sample]:
        """Turn one completions response into :class:`Sample` objects (ordered by index)."""
        choices = sorted(answer.get("choices", []), key=lambda c: c.get("index", 0))
        usage = answer.get("usage") or {}
        out = []
        for c in choices:
            text = c.get("text", "")
            prompt_ids = c.get("prompt_token_ids") or (
                list(prompt) if not isinstance(prompt, str) else
                (self.tokenize(prompt) if self._tok is not None else []))
            lp = c.get("logprobs") or {}
            lps = [float(x) for x in (lp.get("token_logprobs") or []) if x is not None]
            ids = c.get("token_ids")
            if ids is None:
                ids = self.tokenize(text) if self._tok is not None else []
            n_completion = len(ids) or len(lp.get("tokens") or []) or (
                usage.get("completion_tokens", 0) // max(1, len(choices)))
            stop_reason = c.get("stop_reason")
            stop_reason = stop_reason if isinstance(stop_reason, str) else None
            if c.get("finish_reason") == "length":
                finish = "length"
            elif stop_reason is not None or not self.vllm_extras:
                finish = "stop"
            else:
                finish = "eos"
            out.append(Sample(text=text, token_ids=list(ids), logprobs=lps,
                              cumulative_logprob=float(sum(lps)),
                              prompt_tokens=len(prompt_ids) or usage.get("prompt_tokens", 0),
                              completion_tokens=n_completion, finish_reason=finish,
                              stop_reason=stop_reason, prompt_token_ids=list(prompt_ids)))
        return out

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` (local tokenizer, else the server's ``/tokenize``)."""
        if self._tok is not None:
            return list(self._tok.encode(text, add_special_tokens=False))
        return list(self._post("/tokenize", {"model": self.model, "prompt": text,
                                             "add_special_tokens": False})["tokens"])

    def detokenize(self, ids: Sequence[int]) -> str:
        """Text of token ids (local tokenizer, else the server's ``/detokenize``)."""
        if self._tok is not None:
            return self._tok.decode(list(ids), skip_special_tokens=True)
        return self._post("/detokenize", {"model": self.model, "tokens": [int(t) for t in ids]})["prompt"]

    def shutdown(self) -> None:
        """Close the HTTP client and the worker threads."""
        self._pool.shutdown(wait=True)
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


def _server_message(r) -> str:
    """The error message inside a server's JSON error body (or its text), on one line."""
    try:
        data = r.json()
        err = data.get("error", data) if isinstance(data, dict) else data
        msg = err.get("message", err) if isinstance(err, dict) else err
    except ValueError:
        msg = r.text
    return " ".join(str(msg).split())[:500]


@register_engine("openai")
def make_openai_engine(**options) -> OpenAIEngine:
    """Registry entry for :class:`OpenAIEngine`."""
    return OpenAIEngine(**options)
