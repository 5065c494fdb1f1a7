"""Constrained decoding for the in-process backend, with llguidance: the planner's and the critic's replies
under their JSON Schema, the solver's under a code-block grammar (a ```python block ending `RESULT = ...`),
the synthesizer's as one line in the answer format (docs/agent-local-model.md).

At every step llguidance computes which tokens keep the text a prefix of some JSON document the schema
accepts; every other token's logit becomes -inf before mlx-lm samples. The reply therefore parses and fits
the schema by construction (unless `max_tokens` cuts it, which the schema's length bounds are there to
prevent). Why llguidance and not outlines, xgrammar or lm-format-enforcer: docs/structured-output.md.

llguidance's own `llguidance.mlx.apply_token_bitmask` is a Metal kernel and fails on a CPU, so the mask is
applied here with numpy and `mx.where`, which runs on every MLX device.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np

from hrm_agent.errors import BackendError

# Compact JSON with the separators json.dumps writes (what models have seen most), and no free whitespace:
# a small model under a whitespace-flexible grammar can spend its whole token budget on newlines.
GRAMMAR_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}

_LOCK = threading.Lock()
_TOKENIZERS: dict[int, tuple[Any, Any]] = {}  # id(mlx-lm tokenizer) -> (that tokenizer, llguidance's)
_GRAMMARS: dict[str, str] = {}  # schema JSON or Lark text -> compiled llguidance grammar text


def available() -> bool:
    """Whether llguidance can be imported (it is an hrm dependency; a broken install degrades to parsing)."""
    try:
        import llguidance  # noqa: F401
        import llguidance.hf  # noqa: F401
    except ImportError:
        return False
    return True


def _ll_tokenizer(tokenizer: Any) -> Any:
    """llguidance's view of an mlx-lm tokenizer, built once per tokenizer (about half a second)."""
    import llguidance.hf

    with _LOCK:
        hit = _TOKENIZERS.get(id(tokenizer))
        if hit is not None and hit[0] is tokenizer:
            return hit[1]
        hf = getattr(tokenizer, "_tokenizer", tokenizer)  # mlx_lm's TokenizerWrapper holds the HF tokenizer
        try:
            ll = llguidance.hf.from_tokenizer(hf)
        except (ValueError, TypeError) as exc:
            raise BackendError(f"mlx: constrained decoding needs a fast (tokenizer.json) tokenizer: "
                               f"{exc}") from exc
        _TOKENIZERS[id(tokenizer)] = (tokenizer, ll)
        return ll


def _compiled(key: str, build: Any) -> str:
    """llguidance's grammar text for `key` (a schema's JSON, or Lark text), built once by `build()`."""
    with _LOCK:
        if key not in _GRAMMARS:
            _GRAMMARS[key] = build()
        return _GRAMMARS[key]


def _grammar(schema: dict[str, Any]) -> str:
    import llguidance

    return _compiled(json.dumps(schema, sort_keys=True),
                     lambda: llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=GRAMMAR_OPTIONS))


# The solver's and the flat loop's replies on the local model: one ```python block whose last line sets
# RESULT. Small models otherwise answer in prose, print instead of assigning, or name it `result`; the
# grammar leaves every line free except that the block opens, no line starts a fence, and after at most
# CODE_LINES lines the block ends with `RESULT = ...` and closes (then only end-of-sequence may follow):
# a model that loops on one line is made to conclude instead of filling its token budget.
CODE_LINES = 30
CODE_BLOCK_GRAMMAR = r"""
start: "```python\n" LINE~0..%d RESULT "```"
LINE: /[^`\n].*\n|\n/
RESULT: /RESULT = .*\n/
""" % CODE_LINES


class GrammarProcessor:
    """An mlx-lm logits processor (`processor(tokens, logits) -> logits`) that keeps a reply in a grammar
    (llguidance's grammar text: from a JSON Schema, or a Lark grammar).

    mlx-lm calls it once per generated token with every token so far (prompt included): the first call
    learns the prompt's length, each later one feeds the newest token to the matcher. Once the document is
    complete and cannot go on, only end-of-sequence is allowed, so generation stops there.
    """

    def __init__(self, tokenizer: Any, grammar: str, what: str = "the grammar") -> None:
        import llguidance
        from llguidance.numpy import allocate_token_bitmask

        ll = _ll_tokenizer(tokenizer)
        try:
            self._matcher = llguidance.LLMatcher(ll, grammar)
        except (ValueError, TypeError) as exc:
            raise BackendError(f"mlx: {what} cannot be compiled for constrained decoding: {exc}") from exc
        if self._matcher.is_error():
            raise BackendError(f"mlx: {what} cannot be compiled for constrained decoding: "
                               f"{self._matcher.get_error()}")
        self._bitmask = allocate_token_bitmask(1, ll.vocab_size)
        self._prompt_len: int | None = None
        self.broken = ""  # set when the matcher rejected a token: later steps pass the logits through

    def __call__(self, tokens: Any, logits: Any) -> Any:
        import mlx.core as mx
        from llguidance.numpy import fill_next_token_bitmask

        if self._prompt_len is None:
            self._prompt_len = int(tokens.shape[-1])
        elif not self.broken and not self._matcher.consume_token(int(tokens[-1].item())):
            self.broken = self._matcher.get_error() or "token rejected"
        if self.broken:  # only after end-of-sequence (mlx-lm computes one step ahead): nothing to keep
            return logits
        fill_next_token_bitmask(self._matcher, self._bitmask, 0)  # a complete document: end-of-sequence only
        allowed = np.unpackbits(self._bitmask[0].view(np.uint8), bitorder="little").astype(bool)
        vocab = int(logits.shape[-1])
        if allowed.shape[0] < vocab:  # the model's embedding rows past the tokenizer: never allowed
            allowed = np.concatenate([allowed, np.zeros(vocab - allowed.shape[0], dtype=bool)])
        return mx.where(mx.array(allowed[:vocab]), logits, mx.array(-np.inf, dtype=logits.dtype))

    @property
    def complete(self) -> bool:
        """Whether the text so far is a whole document of the schema."""
        return self._matcher.is_accepting()


class SchemaProcessor(GrammarProcessor):
    """A reply kept in a JSON Schema (the planner's and the critic's)."""

    def __init__(self, tokenizer: Any, schema: dict[str, Any]) -> None:
        super().__init__(tokenizer, _grammar(schema), "the JSON schema")


class LarkProcessor(GrammarProcessor):
    """A reply kept in a Lark grammar: CODE_BLOCK_GRAMMAR (solver, flat) or a `format_grammar` (synthesizer)."""

    def __init__(self, tokenizer: Any, lark: str) -> None:
        try:
            grammar = _lark(lark)
        except (ValueError, TypeError) as exc:
            raise BackendError(f"mlx: the grammar cannot be compiled for constrained decoding: {exc}") from exc
        super().__init__(tokenizer, grammar, "the grammar")


def format_grammar(fmt: str) -> str | None:
    """A Lark grammar for one line in the answer format `fmt` (`Answer: <liters>`): its literal text as
    written, then the value, 1 to 80 characters on the line. Only for a format that ends with its one
    `<placeholder>`: a value lexeme would swallow any literal after it, so other formats get None (no
    grammar; the answer is still judged against the format)."""
    from hrm_agent.outcome import format_pieces

    pieces = format_pieces(fmt)
    if len(pieces) != 3 or pieces[2].strip(" .") or not pieces[0].strip():
        return None
    return f"start: {json.dumps(pieces[0], ensure_ascii=False)} VALUE\nVALUE: /[^\\n]{{1,80}}/\n"


def _lark(text: str) -> str:
    import llguidance

    return _compiled(text, lambda: llguidance.LLMatcher.grammar_from_lark(text))
