"""A seeded generator of compositional multi-step tasks with a known number of steps and exact answers.

Each task starts from a number or a word and applies DEPTH simple operations in order (add 7, reverse
the letters, count the vowels, write in binary, ...). The answer is computed here by the same code that
writes the sentence, so it is exact, and the depth is known, so accuracy can be plotted against it.
Depths 2, 3 and 4 are the `train` split (also the source of worked prompt examples, `shots`); 5 and 6 are
`heldout`: a controller that really composes steps should degrade gracefully there.

Same seed, same tasks, on every machine (random.Random with a string seed is stable across runs).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from hrm_agent.bench.tasks import Suite, Task

WORDS = ("apple", "banana", "cherry", "garden", "planet", "silver", "window", "rocket", "puzzle", "forest",
         "monkey", "bridge", "castle", "dragon", "orange", "pencil", "summer", "winter", "violet", "marble")
VOWELS = set("aeiouAEIOU")
MAX_INT = 1_000_000
MAX_LEN = 24
TRAIN_DEPTHS = (2, 3, 4)
HELDOUT_DEPTHS = (5, 6)


@dataclass(frozen=True)
class Op:
    """One step: what it applies to ("int"/"str"), and a maker returning (sentence, function) or None."""

    name: str
    takes: str
    make: Callable[[random.Random, Any], tuple[str, Callable[[Any], Any]] | None]


def _const(text: str, fn: Callable[[Any], Any]) -> Callable[[random.Random, Any], tuple[str, Callable]]:
    return lambda _rng, _v: (text, fn)


def _add(rng: random.Random, _v: Any) -> tuple[str, Callable]:
    k = rng.randint(2, 40)
    return f"add {k}", lambda x: x + k


def _sub(rng: random.Random, v: int) -> tuple[str, Callable] | None:
    if v < 3:
        return None
    k = rng.randint(1, min(v - 1, 40))
    return f"subtract {k}", lambda x: x - k


def _mul(rng: random.Random, v: int) -> tuple[str, Callable] | None:
    k = rng.randint(2, 9)
    return (f"multiply by {k}", lambda x: x * k) if v * k <= MAX_INT else None


def _div(rng: random.Random, v: int) -> tuple[str, Callable] | None:
    k = rng.randint(2, 7)
    return (f"divide by {k}, dropping the remainder (integer division)", lambda x: x // k) if v >= k else None


def _mod(rng: random.Random, v: int) -> tuple[str, Callable] | None:
    k = rng.randint(3, 11)
    return (f"take the remainder after dividing by {k}", lambda x: x % k) if v > k else None


def _square(_rng: random.Random, v: int) -> tuple[str, Callable] | None:
    return ("square it", lambda x: x * x) if 1 < v <= 999 else None


def _digit_sum(_rng: random.Random, v: int) -> tuple[str, Callable] | None:
    return ("replace the number by the sum of its decimal digits", lambda x: sum(map(int, str(x)))) if v >= 10 \
        else None


def _binary(_rng: random.Random, v: int) -> tuple[str, Callable] | None:
    return ("write the number in binary as a string of 0s and 1s (no prefix)", lambda x: format(x, "b")) \
        if 1 <= v < 2 ** MAX_LEN else None


def _append(rng: random.Random, v: str) -> tuple[str, Callable] | None:
    suffix = rng.choice(("xy", "qz", "ok", "mm", "tea"))
    return (f"append the letters \"{suffix}\" at the end", lambda s: s + suffix) if len(v) + 3 <= MAX_LEN else None


def _double(_rng: random.Random, v: str) -> tuple[str, Callable] | None:
    return ("write the string twice in a row", lambda s: s + s) if 2 * len(v) <= MAX_LEN else None


def _drop_first(_rng: random.Random, v: str) -> tuple[str, Callable] | None:
    return ("remove the first character", lambda s: s[1:]) if len(v) >= 3 else None


def _no_vowels(_rng: random.Random, v: str) -> tuple[str, Callable] | None:
    kept = [c for c in v if c not in VOWELS]
    return ("remove every vowel (a, e, i, o, u)", lambda s: "".join(c for c in s if c not in VOWELS)) \
        if 2 <= len(kept) < len(v) else None


def _alpha_sum(_rng: random.Random, v: str) -> tuple[str, Callable] | None:
    return ("replace the string by the sum of its letters' positions in the alphabet (a=1, b=2, ..., z=26; "
            "ignore other characters)",
            lambda s: sum(ord(c) - 96 for c in s.lower() if "a" <= c <= "z")) \
        if any(c.isalpha() for c in v) else None


OPS: tuple[Op, ...] = (
    Op("add", "int", _add), Op("subtract", "int", _sub), Op("multiply", "int", _mul), Op("divide", "int", _div),
    Op("mod", "int", _mod), Op("square", "int", _square), Op("digit_sum", "int", _digit_sum),
    Op("binary", "int", _binary),
    Op("reverse", "str", _const("reverse the string", lambda s: s[::-1])),
    Op("upper", "str", _const("change every letter to upper case", str.upper)),
    Op("sort", "str", _const("sort its characters in alphabetical (Unicode) order", lambda s: "".join(sorted(s)))),
    Op("append", "str", _append), Op("double", "str", _double), Op("drop_first", "str", _drop_first),
    Op("no_vowels", "str", _no_vowels),
    Op("length", "str", _const("replace the string by its length (number of characters)", len)),
    Op("count_vowels", "str", _const("replace the string by the number of vowels in it (a, e, i, o, u, either "
                                     "case)", lambda s: sum(c in VOWELS for c in s))),
    Op("alpha_sum", "str", _alpha_sum),
)


def _kind_of(value: Any) -> str:
    return "str" if isinstance(value, str) else "int"


def make_chain(rng: random.Random, depth: int) -> tuple[Any, list[str], list[Any]]:
    """A start value, `depth` step sentences and the value after each step (the last one is the answer)."""
    for _attempt in range(200):
        start: Any = rng.choice(WORDS) if rng.random() < 0.5 else rng.randint(3, 60)
        value, steps, values, used = start, [], [], []
        for _ in range(depth):
            options = [op for op in OPS if op.takes == _kind_of(value) and op.name not in used]
            rng.shuffle(options)
            for op in options:
                made = op.make(rng, value)
                if made is None:
                    continue
                text, fn = made
                new = fn(value)
                if new == value or (isinstance(new, int) and not 0 <= new <= MAX_INT) or \
                        (isinstance(new, str) and not new):
                    continue  # every step must change the value, so the depth is the real number of steps
                value = new
                steps.append(text)
                values.append(new)
                used.append(op.name)
                break
            else:
                break
        if len(steps) == depth and len(set(map(repr, values))) > 1:
            return start, steps, values
    raise RuntimeError(f"could not build a chain of depth {depth}")  # never seen with the ops above


def describe_chain(start: Any, steps: list[str]) -> str:
    """The task text of a chain: its start and numbered steps, then the question."""
    first = f'the word "{start}"' if isinstance(start, str) else f"the number {start}"
    lines = [f"Start with {first}. Apply these {len(steps)} steps in order, each to the result of the one "
             f"before:"]
    lines += [f"{i}. {text[0].upper()}{text[1:]}." for i, text in enumerate(steps, 1)]
    lines.append("What is the final result?")
    return "\n".join(lines)


def answer_text(value: Any) -> str:
    """A chain value as the answer writes it."""
    return value if isinstance(value, str) else str(value)


def make_task(seed: int, depth: int, index: int, shots: int = 0) -> Task:
    """Task `index` of `depth` for `seed`; independent of how many other tasks are generated."""
    rng = random.Random(f"curriculum:{seed}:{depth}:{index}")
    start, steps, values = make_chain(rng, depth)
    prompt = describe_chain(start, steps)
    if shots:
        examples = []
        for j in range(shots):
            ex_rng = random.Random(f"curriculum-shot:{seed}:{depth}:{index}:{j}")
            ex_depth = ex_rng.choice(TRAIN_DEPTHS)
            ex_start, ex_steps, ex_values = make_chain(ex_rng, ex_depth)
            trail = " -> ".join(answer_text(v) for v in ex_values)
            examples.append(f"Example {j + 1}:\n{describe_chain(ex_start, ex_steps)}\nWorked: {answer_text(ex_start)} "
                            f"-> {trail}\nAnswer: {answer_text(ex_values[-1])}")
        prompt = "\n\n".join(examples) + "\n\nNow this one:\n" + prompt
    answer = values[-1]
    split = "heldout" if depth in HELDOUT_DEPTHS else "train"
    return Task(id=f"cur-d{depth}-{index:02d}", kind="exact" if isinstance(answer, str) else "numeric",
                prompt=prompt, answer=answer, case_sensitive=True, tolerance=0.0, rel_tol=0.0, depth=depth,
                split=split, tags=["curriculum", f"depth{depth}", split], source=f"curriculum:seed={seed}")


def curriculum_suite(per_depth: int = 10, depths: tuple[int, ...] | list[int] = (2, 3, 4, 5, 6),
                     heldout: tuple[int, ...] | list[int] | None = None, seed: int = 0, shots: int = 0) -> Suite:
    """`per_depth` tasks at each depth, interleaved (2,3,4,5,6,2,3,...) so `--limit` keeps every depth."""
    if per_depth < 1 or not depths or any(int(d) < 1 for d in depths) or shots < 0:
        raise TypeError("per_depth >= 1, depths >= 1 and shots >= 0 are needed")
    held = set(HELDOUT_DEPTHS if heldout is None else heldout)
    tasks = []
    for index in range(per_depth):
        for depth in depths:
            task = make_task(seed, int(depth), index, shots)
            task.split = "heldout" if int(depth) in held else "train"
            task.tags = ["curriculum", f"depth{depth}", task.split]
            tasks.append(task)
    return Suite(name="curriculum", tasks=tasks, source=f"builtin:curriculum(per_depth={per_depth}, seed={seed}, "
                                                         f"shots={shots})",
                 description=f"compositional multi-step tasks, depths {list(depths)}, held out {sorted(held)}")
