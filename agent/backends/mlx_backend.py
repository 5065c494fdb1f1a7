"""The in-process backend: any local mlx-lm model directory, by default the converted SmolLM2-135M-Instruct.

No server and no network: the agent works offline out of the box. Models are loaded lazily on the first
`chat` and cached per process by path, so several backends (or controllers) share one copy of the weights.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from hrm_agent.backends import local_model
from hrm_agent.backends.chat import ChatResult, Message
from hrm_agent.errors import AgentError, BackendError, DeadlineExceeded
import hrm_engine.cpu

hrm_engine.cpu.setup()  # must happen before anything imports mlx.core (engine/cpu/__init__.py)

_MODELS: dict[tuple[str, str | None], tuple[Any, Any]] = {}  # (path, adapter) -> (model, TokenizerWrapper)
_LOAD_LOCK = threading.Lock()


def load_cached(path: str, adapter: str | None = None) -> tuple[Any, Any, float]:
    """`mlx_lm.load(path, adapter_path=adapter)` once per process; returns (model, tokenizer, seconds spent
    loading now). A LoRA adapter (`hrm agent tune`) is part of the key: with and without it are two models."""
    with _LOAD_LOCK:
        if (path, adapter) in _MODELS:
            return (*_MODELS[(path, adapter)], 0.0)
        start = time.perf_counter()
        try:
            from mlx_lm import load

            model, tokenizer = load(path, adapter_path=adapter)
        except Exception as exc:  # mlx-lm raises FileNotFoundError, ValueError, KeyError, OSError...
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise BackendError(f"mlx: cannot load model {path}: {detail}") from exc
        _MODELS[(path, adapter)] = (model, tokenizer)
        return model, tokenizer, time.perf_counter() - start


class MLXBackend:
    """Chat with a local mlx-lm model in this process (greedy when temperature is 0)."""

    name = "mlx"
    supports_grammar = True  # chat(grammar=LARK_TEXT) keeps a reply in a Lark grammar (agent/constrained.py)

    def __init__(self, model: str | None = None, *, progress: Callable[[str], None] | None = None,
                 **kw: Any) -> None:
        """`model`: a local mlx-lm model directory, or None for the bundled default (converted on first chat).

        `progress` receives one-line notes (the one-time conversion); other keywords, meant for HTTP
        backends (base_url, timeout, ...), are accepted and ignored so one factory can build every backend.
        """
        self._progress = progress
        self._default = model is None
        if model is None:
            self.model = str(local_model.default_model_dir())
        else:
            path = Path(model).expanduser()
            if not path.exists():
                raise BackendError(f"mlx: model path {model} does not exist; give a local mlx-lm model "
                                   "directory (config.json, *.safetensors, tokenizer) or omit --model "
                                   "for the bundled default")
            self.model = str(path.resolve())
        self.adapter = kw.pop("adapter", None)  # a LoRA adapter folder from `hrm agent tune` (resolved)
        self.options = kw

    def _load(self) -> tuple[Any, Any, float]:
        if self._default:
            try:
                self.model = str(local_model.default_model_path(progress=self._progress))
            except AgentError as exc:
                raise BackendError(f"mlx: default model unavailable: {exc}") from exc
        return load_cached(self.model, self.adapter)

    def chat(self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0,
             stop: list[str] | None = None, deadline: float | None = None,
             schema: dict[str, Any] | None = None, grammar: str | None = None) -> ChatResult:
        """Apply the model's chat template, generate until EOS, a stop string, `max_tokens` or `deadline`.

        With a JSON `schema` the reply is generated under it (agent/constrained.py: every token that would
        leave the schema is masked), so it parses and validates unless `max_tokens` cuts it short. With a Lark
        `grammar` (constrained.CODE_BLOCK_GRAMMAR, constrained.format_grammar) the reply is kept in it.

        `completion_tokens` counts every token the model produced, including the end-of-sequence token;
        text after (and including) the first stop string is dropped. Past `deadline` (monotonic, checked
        between tokens) generation stops with `DeadlineExceeded`, which carries the tokens made so far.
        """
        if max_tokens < 1:
            raise AgentError(f"max_tokens must be at least 1, got {max_tokens}")
        model, tokenizer, load_s = self._load()
        start = time.perf_counter()
        prompt = self._prompt(tokenizer, messages)
        processors, structured = self._constraint(tokenizer, schema, grammar)
        text, completion, finish, tps = self._generate(model, tokenizer, prompt, max_tokens, temperature,
                                                       [s for s in (stop or []) if s], deadline, processors)
        extra: dict[str, Any] = {"tokens_per_s": tps}
        if structured:
            extra["structured"] = structured
        if load_s:
            extra["load_s"] = round(load_s, 3)
        return ChatResult(text=text, prompt_tokens=len(prompt), completion_tokens=completion,
                          latency_s=time.perf_counter() - start, model=self.model, finish_reason=finish,
                          extra=extra)

    def chat_samples(self, conversations: list[list[Message]], *, seeds: list[int], max_tokens: int = 512,
                     temperature: float = 0.7, stop: list[str] | None = None, deadline: float | None = None,
                     schema: dict[str, Any] | None = None, grammar: str | None = None,
                     on_result: Callable[[int, ChatResult], bool] | None = None) -> list[ChatResult]:
        """One reply per conversation, sampled with `seeds[i]`, as one batch (hrm_agent.backends.mlx_batch):
        equal conversations share one prefill (`extra["shared_prefill"]` on all but the first), each reply
        keeps its own grammar matcher. `on_result(i, result)` hears each reply as it finishes; when it
        returns True the replies still generating stop (finish_reason `cut`). `latency_s`: from the batch's
        start to that reply's end."""
        from hrm_agent.backends.mlx_batch import Sample, generate_samples

        if max_tokens < 1:
            raise AgentError(f"max_tokens must be at least 1, got {max_tokens}")
        model, tokenizer, load_s = self._load()
        prompts = [self._prompt(tokenizer, messages) for messages in conversations]
        constraints = [self._constraint(tokenizer, schema, grammar) for _ in prompts]

        def result(i: int, sample: Sample) -> ChatResult:
            extra: dict[str, Any] = {"sample": i, "seed": seeds[i], "batch": len(prompts)}
            if sample.shared_prefill:
                extra["shared_prefill"] = True
            if constraints[i][1]:
                extra["structured"] = constraints[i][1]
            if load_s and i == 0:
                extra["load_s"] = round(load_s, 3)
            return ChatResult(text=sample.text, prompt_tokens=sample.prompt_tokens,
                              completion_tokens=sample.completion_tokens, latency_s=sample.latency_s,
                              model=self.model, finish_reason=sample.finish_reason, extra=extra)

        raised: list[BaseException] = []  # the caller's own errors (its deadline, a bug) pass through unwrapped

        def hook(i: int, sample: Sample) -> bool:
            try:
                return bool(on_result(i, result(i, sample))) if on_result is not None else False
            except BaseException as exc:
                raised.append(exc)
                return True

        try:
            samples = generate_samples(model, tokenizer, prompts, max_tokens=max_tokens, temperature=temperature,
                                       seeds=seeds, processors=[c[0] for c in constraints], stop=stop,
                                       deadline=deadline, on_finish=hook if on_result is not None else None)
        except DeadlineExceeded as exc:
            raise self._past_deadline(exc.text, exc.completion_tokens or 0) from None
        except (AgentError, BackendError):
            raise
        except Exception as exc:
            raise BackendError(f"mlx: batched generation failed with {self.model}: {exc}") from exc
        if raised:
            raise raised[0]
        return [result(i, sample) for i, sample in enumerate(samples)]

    def _prompt(self, tokenizer: Any, messages: list[Message]) -> list[int]:
        """The chat template applied and tokenised."""
        try:
            rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return tokenizer.encode(rendered, add_special_tokens=False)
        except Exception as exc:  # jinja2 errors for malformed messages, tokenizer errors
            raise BackendError(f"mlx: cannot build the prompt for {self.model}: {exc}") from exc

    @staticmethod
    def _constraint(tokenizer: Any, schema: dict[str, Any] | None,
                    grammar: str | None = None) -> tuple[list[Any], str]:
        """The logits processors that keep the reply in `schema` (or the Lark `grammar`), and how the trace
        names that mode."""
        if schema is None and grammar is None:
            return [], ""
        from hrm_agent import constrained

        if not constrained.available():  # a broken install: the caller's parse-and-repair path still works
            return [], "unavailable"
        if schema is not None:
            return [constrained.SchemaProcessor(tokenizer, schema)], "grammar"
        return [constrained.LarkProcessor(tokenizer, grammar)], "lark"

    def _generate(self, model: Any, tokenizer: Any, prompt: list[int], max_tokens: int, temperature: float,
                  stop: list[str], deadline: float | None = None,
                  processors: list[Any] | None = None) -> tuple[str, int, str, float]:
        """Stream tokens; returns (text, completion tokens, finish reason, generation tokens/s)."""
        import mlx.core as mx
        from mlx_lm import stream_generate
        from mlx_lm.sample_utils import make_sampler

        sampler = make_sampler(temp=max(float(temperature), 0.0))
        text, completion, finish, tps = "", 0, "length", 0.0
        longest = max((len(s) for s in stop), default=0)
        if deadline is not None and time.monotonic() >= deadline:  # loading the model took it all
            raise self._past_deadline(text, completion)
        try:
            for resp in stream_generate(model, tokenizer, mx.array(prompt), max_tokens=max_tokens,
                                        sampler=sampler, logits_processors=processors or None):
                scan_from = max(0, len(text) - longest + 1)
                text += resp.text
                completion, tps = resp.generation_tokens, resp.generation_tps
                if resp.finish_reason:
                    finish = resp.finish_reason
                hits = [i for i in (text.find(s, scan_from) for s in stop) if i >= 0]
                if hits:
                    text, finish = text[:min(hits)], "stop"
                    break
                if deadline is not None and time.monotonic() >= deadline and not resp.finish_reason:
                    raise self._past_deadline(text, completion)
        except DeadlineExceeded:
            raise
        except Exception as exc:
            raise BackendError(f"mlx: generation failed with {self.model}: {exc}") from exc
        return text, completion, finish, round(tps, 2)

    def _past_deadline(self, text: str, completion: int) -> DeadlineExceeded:
        return DeadlineExceeded(f"mlx: the run's wall-clock budget ran out while {self.model} was generating "
                                f"({completion} tokens so far); raise --timeout (budget.wall_s) or lower "
                                f"budget.max_tokens_per_call", text=text, completion_tokens=completion)
