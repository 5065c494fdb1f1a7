"""Function-writing tasks for `hrm agent tune --data code`: templates with reference solutions.

The coding suite (configs/suites/coding.yaml) and HumanEval grade code tasks by hidden unit tests on a
function the agent defines. The bundled 135M model, tuned on arithmetic traces only, answers them with
`RESULT = ...` arithmetic instead of the function (docs/experiments.md, E1). These templates teach the
code protocol: read a signature and a description, write the function, call it on the task's example
and store that value in RESULT.

Each template draws its constants and its example inputs per task, so the model must read the prompt
rather than recall a template. Prompts come in the two styles the bench uses: the coding suite's (a
signature line, then a description with an example) and HumanEval's (a function header with a docstring
inside a ```python fence). None of the templates is a task of either suite: `data.check_disjoint`
compares names, texts, skeletons and words with every coding and HumanEval item. The tests of a task are
the reference solution's own outputs on its inputs; they make the task gradable by the bench's checker.
"""

from __future__ import annotations

import copy
import json
import random
import string
from dataclasses import dataclass
from typing import Any, Callable

WORDS = ("apple", "river", "stone", "light", "garden", "cloud", "tiger", "piano", "rocket", "maple", "ocean",
         "pencil", "forest", "candle", "silver", "planet", "window", "bridge", "lemon", "violet", "banjo", "comet",
         "meadow", "harbor", "quartz", "nectar", "falcon", "pebble", "saddle", "tunnel")
PEOPLE = ("Ada Lovelace", "Alan Mathison Turing", "Grace Brewster Hopper", "Edsger Dijkstra", "Barbara Liskov",
          "Donald Ervin Knuth", "Margaret Hamilton", "Ken Thompson", "Frances Allen", "John von Neumann")
HUMANEVAL_PREAMBLE = "Complete this Python function. Keep its name and signature."


@dataclass
class CodeSpec:
    """One drawn function task: what the prompt shows and what solves it."""

    entry: str
    signature: str  # "count_above(nums: list[int], limit: int) -> int"
    doc: str  # what the function must do, constants filled in
    solution: str  # the reference function (our code)
    calls: list[tuple]  # argument tuples; the first is the prompt's example


_T = Callable[[random.Random], CodeSpec]


# -- drawing inputs ----------------------------------------------------------------------------------------

def _ints(rng: random.Random, n: int | None = None, lo: int = -9, hi: int = 30) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n if n is not None else rng.randint(4, 7))]


def _words(rng: random.Random, n: int | None = None) -> list[str]:
    return rng.sample(WORDS, n if n is not None else rng.randint(3, 6))


def _sentence(rng: random.Random, n: int | None = None) -> str:
    return " ".join(_words(rng, n))


def _calls(rng: random.Random, make: Callable[[], tuple], extra: tuple[tuple, ...] = (), n: int = 3) -> list[tuple]:
    return [make() for _ in range(n)] + list(extra)


# -- the templates -------------------------------------------------------------------------------------------
# Lists of numbers.

def _c_count_above(rng: random.Random) -> CodeSpec:
    strict = rng.random() < 0.5
    op, words = (">", "greater than") if strict else (">=", "at least")
    return CodeSpec("count_above", "count_above(nums: list[int], limit: int) -> int",
                    f"Return how many numbers in nums are {words} limit.",
                    f"def count_above(nums, limit):\n    return sum(1 for x in nums if x {op} limit)",
                    _calls(rng, lambda: (_ints(rng), rng.randint(0, 15)), (([], 3),)))


def _c_running_total(rng: random.Random) -> CodeSpec:
    start = rng.choice((0, 0, 10, 100))
    doc = "Return the running totals of nums: item i is the sum of nums[0] .. nums[i]."
    body = "    total = 0\n"
    if start:
        doc = f"Return the running totals of nums, starting from {start}: item i is {start} plus nums[0] .. nums[i]."
        body = f"    total = {start}\n"
    return CodeSpec("running_total", "running_total(nums: list[int]) -> list[int]", doc,
                    "def running_total(nums):\n" + body + "    out = []\n    for x in nums:\n        total += x\n"
                    "        out.append(total)\n    return out",
                    _calls(rng, lambda: (_ints(rng),), (([],),)))


def _c_pairwise_diff(rng: random.Random) -> CodeSpec:
    return CodeSpec("step_changes", "step_changes(nums: list[int]) -> list[int]",
                    "Return the change from each number to the next one: nums[i + 1] - nums[i] for each i. "
                    "A list with fewer than two numbers gives [].",
                    "def step_changes(nums):\n    return [b - a for a, b in zip(nums, nums[1:])]",
                    _calls(rng, lambda: (_ints(rng),), (([5],),)))


def _c_clamp(rng: random.Random) -> CodeSpec:
    lo, hi = rng.randint(-5, 5), rng.randint(10, 25)
    return CodeSpec("clamp_all", "clamp_all(nums: list[int]) -> list[int]",
                    f"Limit every number to the range {lo} to {hi}: a number below {lo} becomes {lo}, one above {hi} "
                    f"becomes {hi}, the others stay.",
                    f"def clamp_all(nums):\n    return [min(max(x, {lo}), {hi}) for x in nums]",
                    _calls(rng, lambda: (_ints(rng, lo=-20, hi=40),), (([],),)))


def _c_index_of_extreme(rng: random.Random) -> CodeSpec:
    largest = rng.random() < 0.5
    which, fn = ("largest", "max") if largest else ("smallest", "min")
    return CodeSpec(f"index_of_{fn}", f"index_of_{fn}(nums: list[int]) -> int",
                    f"Return the position of the {which} number in nums (the first one if it occurs more than "
                    f"once), or -1 for an empty list.",
                    f"def index_of_{fn}(nums):\n    if not nums:\n        return -1\n    return nums.index({fn}(nums))",
                    _calls(rng, lambda: (_ints(rng),), (([],),)))


def _c_pairwise_lists(rng: random.Random) -> CodeSpec:
    add = rng.random() < 0.5
    name, what, op = ("add_lists", "sum", "+") if add else ("multiply_lists", "product", "*")
    n = rng.randint(3, 5)
    return CodeSpec(name, f"{name}(a: list[int], b: list[int]) -> list[int]",
                    f"a and b have the same length. Return the list of the {what}s of their items at the same "
                    f"position.",
                    f"def {name}(a, b):\n    return [x {op} y for x, y in zip(a, b)]",
                    _calls(rng, lambda: (_ints(rng, n, 0, 12), _ints(rng, n, 0, 12)), (([], []),)))


def _c_powers_of_parity(rng: random.Random) -> CodeSpec:
    even = rng.random() < 0.5
    power = rng.choice((2, 3))
    kind, test = ("even", "x % 2 == 0") if even else ("odd", "x % 2 != 0")
    what = "squares" if power == 2 else "cubes"
    name = f"{what}_of_{kind}s"
    return CodeSpec(name, f"{name}(nums: list[int]) -> list[int]",
                    f"Return the {what} of the {kind} numbers in nums, in their order.",
                    f"def {name}(nums):\n    return [x ** {power} for x in nums if {test}]",
                    _calls(rng, lambda: (_ints(rng, lo=-6, hi=12),), (([],),)))


def _c_split_parity(rng: random.Random) -> CodeSpec:
    return CodeSpec("split_parity", "split_parity(nums: list[int]) -> tuple[list[int], list[int]]",
                    "Return a pair of lists: the even numbers of nums, then the odd ones, each in their order.",
                    "def split_parity(nums):\n    evens = [x for x in nums if x % 2 == 0]\n"
                    "    odds = [x for x in nums if x % 2 != 0]\n    return evens, odds",
                    _calls(rng, lambda: (_ints(rng),), (([],),)))


def _c_product(rng: random.Random) -> CodeSpec:
    return CodeSpec("product_of", "product_of(nums: list[int]) -> int",
                    "Return the product of all numbers in nums; the product of an empty list is 1.",
                    "def product_of(nums):\n    out = 1\n    for x in nums:\n        out *= x\n    return out",
                    _calls(rng, lambda: (_ints(rng, rng.randint(2, 5), -5, 9),), (([],),)))


def _c_spread(rng: random.Random) -> CodeSpec:
    return CodeSpec("spread", "spread(nums: list[int]) -> int",
                    "Return the largest number minus the smallest number of nums, or 0 for an empty list.",
                    "def spread(nums):\n    return max(nums) - min(nums) if nums else 0",
                    _calls(rng, lambda: (_ints(rng),), (([],), ([7],))))


def _c_interleave(rng: random.Random) -> CodeSpec:
    return CodeSpec("interleave", "interleave(a: list, b: list) -> list",
                    "Take items from a and b in turn (a[0], b[0], a[1], b[1], ...); when one list runs out, add "
                    "the rest of the other.",
                    "def interleave(a, b):\n    out = []\n    for i in range(max(len(a), len(b))):\n"
                    "        if i < len(a):\n            out.append(a[i])\n        if i < len(b):\n"
                    "            out.append(b[i])\n    return out",
                    _calls(rng, lambda: (_ints(rng, rng.randint(2, 4), 0, 9), _ints(rng, rng.randint(1, 5), 10, 30)),
                           (([], [1, 2]),)))


def _c_every_nth(rng: random.Random) -> CodeSpec:
    n = rng.randint(2, 4)
    first = rng.random() < 0.5
    if first:
        doc, code = (f"Return every {_ordinal(n)} item of items, starting with the first one (positions 0, {n}, "
                     f"{2 * n}, ...)."), f"items[::{n}]"
    else:
        doc, code = (f"Return every {_ordinal(n)} item of items, starting with item number {n} (positions "
                     f"{n - 1}, {2 * n - 1}, ...)."), f"items[{n - 1}::{n}]"
    return CodeSpec("every_nth", "every_nth(items: list) -> list", doc,
                    f"def every_nth(items):\n    return {code}",
                    _calls(rng, lambda: (_ints(rng, rng.randint(5, 9), 0, 50),), (([],),)))


def _ordinal(n: int) -> str:
    return {2: "second", 3: "third", 4: "fourth", 5: "fifth"}[n]


def _c_count_negatives(rng: random.Random) -> CodeSpec:
    zero = rng.random() < 0.4
    words, op = ("negative or zero", "<= 0") if zero else ("negative", "< 0")
    name = "count_non_positive" if zero else "count_negatives"
    return CodeSpec(name, f"{name}(nums: list[int]) -> int", f"Return how many numbers in nums are {words}.",
                    f"def {name}(nums):\n    return sum(1 for x in nums if x {op})",
                    _calls(rng, lambda: (_ints(rng, lo=-10, hi=10),), (([],),)))


def _c_positions_of(rng: random.Random) -> CodeSpec:
    def make() -> tuple:
        items = [rng.randint(0, 4) for _ in range(rng.randint(5, 8))]
        return items, rng.choice(items)
    return CodeSpec("positions_of", "positions_of(items: list[int], x: int) -> list[int]",
                    "Return the positions (0-based, increasing) at which x occurs in items.",
                    "def positions_of(items, x):\n    return [i for i, v in enumerate(items) if v == x]",
                    _calls(rng, make, (([1, 2], 5),)))


def _c_merge_sorted(rng: random.Random) -> CodeSpec:
    def make() -> tuple:
        return sorted(_ints(rng, rng.randint(2, 4), 0, 20)), sorted(_ints(rng, rng.randint(1, 4), 0, 20))
    return CodeSpec("merge_sorted", "merge_sorted(a: list[int], b: list[int]) -> list[int]",
                    "a and b are sorted in increasing order. Return one sorted list with all their items "
                    "(repeats kept), without calling sort or sorted.",
                    "def merge_sorted(a, b):\n    out, i, j = [], 0, 0\n    while i < len(a) and j < len(b):\n"
                    "        if a[i] <= b[j]:\n            out.append(a[i])\n            i += 1\n        else:\n"
                    "            out.append(b[j])\n            j += 1\n    return out + a[i:] + b[j:]",
                    _calls(rng, make, (([], [1, 3]),)))


def _c_average(rng: random.Random) -> CodeSpec:
    digits = rng.choice((1, 2))
    plural = "s" if digits > 1 else ""
    return CodeSpec("average_of", "average_of(nums: list[float]) -> float",
                    f"Return the arithmetic mean of nums rounded to {digits} decimal place{plural}, or 0.0 for an empty "
                    f"list.",
                    f"def average_of(nums):\n    return round(sum(nums) / len(nums), {digits}) if nums else 0.0",
                    _calls(rng, lambda: (_ints(rng, lo=0, hi=40),), (([],),)))


def _c_keep_between(rng: random.Random) -> CodeSpec:
    lo, hi = rng.randint(0, 8), rng.randint(12, 25)
    return CodeSpec("keep_between", "keep_between(nums: list[int]) -> list[int]",
                    f"Return the numbers of nums from {lo} to {hi} (both included), in their order.",
                    f"def keep_between(nums):\n    return [x for x in nums if {lo} <= x <= {hi}]",
                    _calls(rng, lambda: (_ints(rng, lo=-5, hi=35),), (([],),)))


# Strings.

def _c_initials(rng: random.Random) -> CodeSpec:
    dots = rng.random() < 0.5
    if dots:
        doc = ('Return the initials of a full name: the first letter of each word, upper case, each followed by '
               'a dot.')
        code = "def initials(name):\n    return \"\".join(w[0].upper() + \".\" for w in name.split())"
    else:
        doc = "Return the initials of a full name: the first letter of each word in upper case, joined without spaces."
        code = "def initials(name):\n    return \"\".join(w[0].upper() for w in name.split())"
    return CodeSpec("initials", "initials(name: str) -> str", doc, code,
                    _calls(rng, lambda: (rng.choice(PEOPLE).lower() if rng.random() < 0.3 else rng.choice(PEOPLE),),
                           (("",),)))


def _c_mask(rng: random.Random) -> CodeSpec:
    keep, ch = rng.randint(2, 4), rng.choice("#*x")

    def make() -> tuple:
        return ("".join(rng.choice(string.digits) for _ in range(rng.randint(6, 12))),)
    return CodeSpec("mask_number", "mask_number(digits: str) -> str",
                    f'Replace every character of digits except the last {keep} by "{ch}" (a string of {keep} '
                    f'characters or fewer stays as it is).',
                    f'def mask_number(digits):\n    if len(digits) <= {keep}:\n        return digits\n'
                    f'    return "{ch}" * (len(digits) - {keep}) + digits[-{keep}:]',
                    _calls(rng, make, (("12",),)))


def _c_repeat_letters(rng: random.Random) -> CodeSpec:
    k = rng.randint(2, 3)
    return CodeSpec("stretch", "stretch(s: str) -> str",
                    f"Return s with every character written {k} times in a row.",
                    f'def stretch(s):\n    return "".join(c * {k} for c in s)',
                    _calls(rng, lambda: (rng.choice(WORDS)[: rng.randint(3, 6)],), (("",),)))


def _c_count_long_words(rng: random.Random) -> CodeSpec:
    n = rng.randint(4, 6)
    return CodeSpec("count_long_words", "count_long_words(text: str) -> int",
                    f"Return how many space-separated words of text have more than {n} letters.",
                    f"def count_long_words(text):\n    return sum(1 for w in text.split() if len(w) > {n})",
                    _calls(rng, lambda: (_sentence(rng),), (("",),)))


def _c_swap_pairs(rng: random.Random) -> CodeSpec:
    return CodeSpec("swap_pairs", "swap_pairs(s: str) -> str",
                    "Swap the characters of s two by two (the 1st with the 2nd, the 3rd with the 4th, ...); an odd "
                    "last character stays where it is.",
                    "def swap_pairs(s):\n    out = []\n    for i in range(0, len(s) - 1, 2):\n"
                    "        out.append(s[i + 1] + s[i])\n    if len(s) % 2:\n        out.append(s[-1])\n"
                    "    return \"\".join(out)",
                    _calls(rng, lambda: (rng.choice(WORDS),), (("",),)))


def _c_alternate_caps(rng: random.Random) -> CodeSpec:
    upper_first = rng.random() < 0.5
    first, second = ("upper", "lower") if upper_first else ("lower", "upper")
    return CodeSpec("alternate_caps", "alternate_caps(s: str) -> str",
                    f"Return s with the characters at even positions (0, 2, ...) in {first} case and the others in "
                    f"{second} case.",
                    f'def alternate_caps(s):\n    return "".join(c.{first}() if i % 2 == 0 else c.{second}() '
                    f'for i, c in enumerate(s))',
                    _calls(rng, lambda: (rng.choice(WORDS),), (("",),)))


def _c_isogram(rng: random.Random) -> CodeSpec:
    return CodeSpec("is_isogram", "is_isogram(word: str) -> bool",
                    "Return True if no letter occurs more than once in word, ignoring case.",
                    "def is_isogram(word):\n    letters = [c.lower() for c in word if c.isalpha()]\n"
                    "    return len(letters) == len(set(letters))",
                    _calls(rng, lambda: (rng.choice(WORDS),), (("Dermatoglyphics",), ("",))))


def _c_acronym(rng: random.Random) -> CodeSpec:
    phrases = ("portable network graphics", "central processing unit", "as soon as possible", "read only memory",
               "graphical user interface", "frequently asked questions", "random access memory",
               "light emitting diode", "global positioning system", "personal identification number")
    return CodeSpec("acronym", "acronym(phrase: str) -> str",
                    "Return the acronym of phrase: the first letter of every word, in upper case.",
                    'def acronym(phrase):\n    return "".join(w[0].upper() for w in phrase.split())',
                    _calls(rng, lambda: (rng.choice(phrases),), (("",),)))


def _c_most_common_char(rng: random.Random) -> CodeSpec:
    return CodeSpec("most_common_char", "most_common_char(s: str) -> str",
                    "Return the character that occurs most often in s; on a tie, the one that occurs first in s. "
                    "Return \"\" for an empty string.",
                    "def most_common_char(s):\n    best = \"\"\n    for c in s:\n"
                    "        if not best or s.count(c) > s.count(best):\n            best = c\n    return best",
                    _calls(rng, lambda: (rng.choice(WORDS) + rng.choice(WORDS),), (("",),)))


def _c_keep_letters(rng: random.Random) -> CodeSpec:
    keep_digits = rng.random() < 0.5
    what = "letters, digits and spaces" if keep_digits else "letters and spaces"
    test = "c.isalnum() or c == \" \"" if keep_digits else "c.isalpha() or c == \" \""

    def make() -> tuple:
        words = _words(rng, rng.randint(1, 2))
        return (f"{words[0].title()}, {' '.join(words[1:])}! {rng.randint(1, 99)}?",)
    return CodeSpec("keep_letters", "keep_letters(text: str) -> str", f"Return text with only its {what} kept.",
                    f'def keep_letters(text):\n    return "".join(c for c in text if {test})',
                    _calls(rng, make, (("Hi, you! 2 of 3?",),)))


def _c_middle(rng: random.Random) -> CodeSpec:
    return CodeSpec("middle_of", "middle_of(s: str) -> str",
                    "Return the middle character of s if its length is odd, or the middle two characters if it is "
                    "even (\"\" for an empty string).",
                    "def middle_of(s):\n    if not s:\n        return \"\"\n    m = len(s) // 2\n"
                    "    return s[m] if len(s) % 2 else s[m - 1:m + 1]",
                    _calls(rng, lambda: (rng.choice(WORDS),), (("",),)))


def _c_kebab(rng: random.Random) -> CodeSpec:
    sep = rng.choice("-.")
    name = "to_kebab" if sep == "-" else "to_dotted"
    return CodeSpec(name, f"{name}(text: str) -> str",
                    f'Return the space-separated words of text in lower case joined by "{sep}".',
                    f'def {name}(text):\n    return "{sep}".join(w.lower() for w in text.split())',
                    _calls(rng, lambda: (" ".join(w.title() for w in _words(rng, rng.randint(2, 4))),), (("",),)))


def _c_count_consonants(rng: random.Random) -> CodeSpec:
    return CodeSpec("count_consonants", "count_consonants(s: str) -> int",
                    "Return how many letters of s are consonants (letters other than a, e, i, o, u), ignoring case.",
                    'def count_consonants(s):\n    return sum(1 for c in s.lower() if c.isalpha() and c not in "aeiou")',
                    _calls(rng, lambda: (_sentence(rng, 2).title(),), (("",),)))


def _c_censor(rng: random.Random) -> CodeSpec:
    def make() -> tuple:
        words = _words(rng, 2)
        bad = rng.choice(words)
        words.insert(rng.randint(0, len(words)), bad)
        return " ".join(words), bad
    return CodeSpec("censor", "censor(text: str, word: str) -> str",
                    "Replace every space-separated word of text that equals word by as many \"*\" as it has letters.",
                    'def censor(text, word):\n    return " ".join("*" * len(w) if w == word else w for w in text.split())',
                    _calls(rng, make))


def _c_first_words(rng: random.Random) -> CodeSpec:
    n = rng.randint(2, 3)
    return CodeSpec("first_words", "first_words(text: str) -> str",
                    f"Return the first {n} space-separated words of text joined by single spaces (all of them if "
                    f"there are fewer).",
                    f'def first_words(text):\n    return " ".join(text.split()[:{n}])',
                    _calls(rng, lambda: (_sentence(rng),), (("one",),)))


def _c_count_starting(rng: random.Random) -> CodeSpec:
    def make() -> tuple:
        words = _words(rng, rng.randint(4, 7))
        return " ".join(words), rng.choice(words)[0]
    return CodeSpec("count_starting_with", "count_starting_with(text: str, letter: str) -> int",
                    "Return how many space-separated words of text start with letter (compared in lower case).",
                    "def count_starting_with(text, letter):\n"
                    "    return sum(1 for w in text.split() if w.lower().startswith(letter.lower()))",
                    _calls(rng, make))


def _c_total_length(rng: random.Random) -> CodeSpec:
    return CodeSpec("total_letters", "total_letters(words: list[str]) -> int",
                    "Return the total number of characters in all the strings of words.",
                    "def total_letters(words):\n    return sum(len(w) for w in words)",
                    _calls(rng, lambda: (_words(rng),), (([],),)))


# Numbers.

def _c_perfect(rng: random.Random) -> CodeSpec:
    return CodeSpec("is_perfect", "is_perfect(n: int) -> bool",
                    "Return True if n >= 1 equals the sum of its divisors smaller than itself (6 = 1 + 2 + 3).",
                    "def is_perfect(n):\n    return n > 1 and sum(d for d in range(1, n) if n % d == 0) == n",
                    _calls(rng, lambda: (rng.choice((6, 28, 496, rng.randint(2, 500))),), ((1,), (12,))))


def _c_digit_count(rng: random.Random) -> CodeSpec:
    return CodeSpec("digit_count", "digit_count(n: int) -> int",
                    "Return how many decimal digits the integer n has (the sign does not count; 0 has one digit).",
                    "def digit_count(n):\n    return len(str(abs(n)))",
                    _calls(rng, lambda: (rng.randint(-99999, 999999),), ((0,),)))


def _c_reverse_digits(rng: random.Random) -> CodeSpec:
    return CodeSpec("reverse_digits", "reverse_digits(n: int) -> int",
                    "Return the number whose decimal digits are those of n >= 0 in reverse order (1230 gives 321).",
                    "def reverse_digits(n):\n    return int(str(n)[::-1])",
                    _calls(rng, lambda: (rng.randint(10, 99999),), ((0,), (1230,))))


def _c_armstrong(rng: random.Random) -> CodeSpec:
    return CodeSpec("is_armstrong", "is_armstrong(n: int) -> bool",
                    "Return True if n >= 0 equals the sum of its decimal digits, each raised to the power of the "
                    "number of digits (153 = 1**3 + 5**3 + 3**3).",
                    "def is_armstrong(n):\n    digits = str(n)\n    return n == sum(int(d) ** len(digits) for d in digits)",
                    _calls(rng, lambda: (rng.choice((153, 370, 371, 407, 9474, rng.randint(10, 9999))),), ((10,),)))


def _c_factorial(rng: random.Random) -> CodeSpec:
    return CodeSpec("factorial", "factorial(n: int) -> int",
                    "Return n! = 1 * 2 * ... * n for n >= 0 (0! is 1), without the math module.",
                    "def factorial(n):\n    out = 1\n    for i in range(2, n + 1):\n        out *= i\n    return out",
                    _calls(rng, lambda: (rng.randint(1, 12),), ((0,),)))


def _c_leap(rng: random.Random) -> CodeSpec:
    return CodeSpec("is_leap_year", "is_leap_year(year: int) -> bool",
                    "Return True for a leap year of the Gregorian calendar: divisible by 4, except years divisible "
                    "by 100 that are not divisible by 400.",
                    "def is_leap_year(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
                    _calls(rng, lambda: (rng.randint(1800, 2100),), ((1900,), (2000,))))


def _c_set_bits(rng: random.Random) -> CodeSpec:
    return CodeSpec("count_set_bits", "count_set_bits(n: int) -> int",
                    "Return how many 1s the binary representation of n >= 0 has.",
                    'def count_set_bits(n):\n    return bin(n).count("1")',
                    _calls(rng, lambda: (rng.randint(1, 1000),), ((0,),)))


def _c_round_multiple(rng: random.Random) -> CodeSpec:
    k = rng.choice((5, 10, 25, 50))
    return CodeSpec("round_to_step", "round_to_step(n: int) -> int",
                    f"Round n >= 0 to the nearest multiple of {k}; a number exactly halfway is rounded up.",
                    f"def round_to_step(n):\n    return (n + {k} // 2) // {k} * {k}",
                    _calls(rng, lambda: (rng.randint(0, 999),), ((k // 2,),)))


def _c_clock(rng: random.Random) -> CodeSpec:
    return CodeSpec("clock_text", "clock_text(seconds: int) -> str",
                    "Write a number of seconds as H:MM:SS (hours not padded, minutes and seconds with two digits).",
                    'def clock_text(seconds):\n    h, rest = divmod(seconds, 3600)\n    m, s = divmod(rest, 60)\n'
                    '    return f"{h}:{m:02d}:{s:02d}"',
                    _calls(rng, lambda: (rng.randint(0, 40000),), ((59,),)))


def _c_digit_sum_until(rng: random.Random) -> CodeSpec:
    k = rng.choice((3, 7, 9))
    return CodeSpec("multiples_below", "multiples_below(n: int) -> list[int]",
                    f"Return the positive multiples of {k} that are smaller than n, in increasing order.",
                    f"def multiples_below(n):\n    return list(range({k}, n, {k}))",
                    _calls(rng, lambda: (rng.randint(10, 60),), ((1,),)))


# Dictionaries.

def _c_merge_counts(rng: random.Random) -> CodeSpec:
    def make() -> tuple:
        keys = _words(rng, 4)
        return ({k: rng.randint(1, 9) for k in keys[:3]}, {k: rng.randint(1, 9) for k in keys[1:]})
    return CodeSpec("merge_counts", "merge_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]",
                    "Return one dictionary with every key of a and b; a key in both gets the sum of its two counts.",
                    "def merge_counts(a, b):\n    out = dict(a)\n    for k, v in b.items():\n"
                    "        out[k] = out.get(k, 0) + v\n    return out",
                    _calls(rng, make, (({}, {}),)))


def _c_keys_for_value(rng: random.Random) -> CodeSpec:
    def make() -> tuple:
        d = {k: rng.randint(1, 3) for k in _words(rng, 5)}
        return d, rng.choice(list(d.values()))
    return CodeSpec("keys_for_value", "keys_for_value(d: dict[str, int], value: int) -> list[str]",
                    "Return the keys of d whose value equals value, sorted alphabetically.",
                    "def keys_for_value(d, value):\n    return sorted(k for k, v in d.items() if v == value)",
                    _calls(rng, make, (({}, 1),)))


def _c_key_of_max(rng: random.Random) -> CodeSpec:
    def make() -> tuple:
        return ({k: rng.randint(1, 20) for k in _words(rng, rng.randint(3, 5))},)
    return CodeSpec("key_of_max", "key_of_max(d: dict[str, int]) -> str",
                    "Return the key with the largest value; on a tie, the alphabetically smallest of those keys.",
                    "def key_of_max(d):\n    best = max(d.values())\n    return min(k for k, v in d.items() if v == best)",
                    _calls(rng, make))


def _c_group_by_length(rng: random.Random) -> CodeSpec:
    return CodeSpec("group_by_length", "group_by_length(words: list[str]) -> dict[int, list[str]]",
                    "Map each word length to the list of words of that length, in their order in words.",
                    "def group_by_length(words):\n    out = {}\n    for w in words:\n"
                    "        out.setdefault(len(w), []).append(w)\n    return out",
                    _calls(rng, lambda: (_words(rng),), (([],),)))


def _c_filter_min(rng: random.Random) -> CodeSpec:
    m = rng.randint(3, 8)
    return CodeSpec("at_least", "at_least(stock: dict[str, int]) -> dict[str, int]",
                    f"Return the items of stock whose count is at least {m}, in their order.",
                    f"def at_least(stock):\n    return {{k: v for k, v in stock.items() if v >= {m}}}",
                    _calls(rng, lambda: ({k: rng.randint(0, 12) for k in _words(rng, rng.randint(3, 5))},), (({},),)))


TEMPLATES: dict[str, _T] = {
    "count-above": _c_count_above, "running-total": _c_running_total, "step-changes": _c_pairwise_diff,
    "clamp-all": _c_clamp, "index-of-extreme": _c_index_of_extreme, "pairwise-lists": _c_pairwise_lists,
    "powers-of-parity": _c_powers_of_parity, "split-parity": _c_split_parity, "product-of": _c_product,
    "spread": _c_spread, "interleave": _c_interleave, "every-nth": _c_every_nth,
    "count-negatives": _c_count_negatives, "positions-of": _c_positions_of, "merge-sorted": _c_merge_sorted,
    "average-of": _c_average, "keep-between": _c_keep_between, "initials": _c_initials, "mask-number": _c_mask,
    "stretch": _c_repeat_letters, "count-long-words": _c_count_long_words, "swap-pairs": _c_swap_pairs,
    "alternate-caps": _c_alternate_caps, "is-isogram": _c_isogram, "acronym": _c_acronym,
    "most-common-char": _c_most_common_char, "keep-letters": _c_keep_letters, "middle-of": _c_middle,
    "join-words": _c_kebab, "count-consonants": _c_count_consonants, "censor": _c_censor,
    "first-words": _c_first_words, "count-starting-with": _c_count_starting, "total-letters": _c_total_length,
    "is-perfect": _c_perfect, "digit-count": _c_digit_count, "reverse-digits": _c_reverse_digits,
    "is-armstrong": _c_armstrong, "factorial": _c_factorial, "is-leap-year": _c_leap,
    "count-set-bits": _c_set_bits, "round-to-step": _c_round_multiple, "clock-text": _c_clock,
    "multiples-below": _c_digit_sum_until, "merge-counts": _c_merge_counts, "keys-for-value": _c_keys_for_value,
    "key-of-max": _c_key_of_max, "group-by-length": _c_group_by_length, "at-least": _c_filter_min,
}


# -- prompts, calls and tests ---------------------------------------------------------------------------------

def literal(value: Any) -> str:
    """A Python literal with double-quoted strings, as the coding suite writes its examples."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def call_text(spec: CodeSpec, args: tuple) -> str:
    return f"{spec.entry}({', '.join(literal(a) for a in args)})"


def evaluate(spec: CodeSpec) -> list[Any]:
    """The reference solution's value on each call (our own code, run in-process)."""
    ns: dict[str, Any] = {}
    exec(compile(spec.solution, f"<tune-code:{spec.entry}>", "exec"), ns)  # noqa: S102 - our reference code
    fn = ns[spec.entry]
    return [fn(*copy.deepcopy(args)) for args in spec.calls]


def _example_clause(spec: CodeSpec, value: Any) -> str:
    call = call_text(spec, spec.calls[0])
    if isinstance(value, bool) or value is None:
        return f"{call} is {value!r}."
    return f"{call} == {literal(value)}."


def suite_prompt(spec: CodeSpec, value: Any) -> str:
    """The coding suite's style: the signature line, then the description with the example."""
    return f"def {spec.signature}\n{spec.doc} {_example_clause(spec, value)}"


def docstring_prompt(spec: CodeSpec, value: Any) -> str:
    """HumanEval's style: a function header with a docstring and a doctest, inside a fence."""
    call = call_text(spec, spec.calls[0])
    doc_lines = _wrap(spec.doc, 88)
    body = "\n".join(f"    {line}" for line in doc_lines)
    return (f"{HUMANEVAL_PREAMBLE}\n```python\ndef {spec.signature}:\n    \"\"\"{body.lstrip()}\n"
            f"    >>> {call}\n    {value!r}\n    \"\"\"\n```")  # a doctest shows the repr


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def tests_text(spec: CodeSpec, values: list[Any]) -> str:
    return "\n".join(f"assert {call_text(spec, args)} == {literal(v)}" for args, v in zip(spec.calls, values))


def reply_code(spec: CodeSpec) -> str:
    """What the solver (and the flat loop) writes: the function, then RESULT on the prompt's example."""
    return f"{spec.solution}\n\nRESULT = {call_text(spec, spec.calls[0])}"


def draw(name: str, rng: random.Random) -> CodeSpec:
    spec = TEMPLATES[name](rng)
    values = evaluate(spec)
    if any(isinstance(v, float) and v != v for v in values):
        raise AssertionError(f"template {name}: NaN in a reference value")
    if isinstance(values[0], str) and len(values[0].split()) > 3:
        # the controllers take a RESULT of more than three words for prose, not a value (flat_verdict)
        raise AssertionError(f"template {name}: the example's value {values[0]!r} has more than three words")
    return spec


__all__ = ["CodeSpec", "HUMANEVAL_PREAMBLE", "TEMPLATES", "call_text", "docstring_prompt", "draw", "evaluate",
           "literal", "reply_code", "suite_prompt", "tests_text"]
