"""Training data for `hrm agent tune`: traces of the agent's own protocol on generated tasks.

Every generated task comes with a programmatic reference solution: a list of steps, each a subgoal
sentence and the Python code that computes it. The code is executed here (it is our own code), so the
variables, results listings and final answers in the data are exactly what the controllers would show
after a correct run. Each task is rendered with the live prompt set (agent/prompts.py), so the adapter
learns the exact messages the controllers send:

    planner      TASK                      -> plan JSON (subgoals, final_format)
    solver       TASK, SUBGOAL, variables  -> one ```python block setting RESULT (once per subgoal)
    critic       TASK, RESULTS             -> {"action": "submit", ...}
    synthesizer  TASK, RESULTS, FORMAT     -> "Answer: ..." in the format
    flat         TASK                      -> one ```python block computing the whole answer into RESULT

Four task sources: `math` (word problems and arithmetic from templates written here, none of which is a
template of the math suite: `check_disjoint` proves it against every bench item), `chains` (the
curriculum suite's operations, 2 to 4 steps, from seeds the bench never uses), `code` (function-writing
tasks, agent/tune/code_tasks.py, none of them a coding-suite or HumanEval task) and `plain` (the math templates
asked as a person types them, with no answer format: the plan then uses `Answer: <value>`). Each example
knows its number of steps, which is what the curriculum schedule orders by (agent/tune/lora.py).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from hrm_agent.tune import code_tasks
from hrm_agent.bench.curriculum import make_chain
from hrm_agent.outcome import DEFAULT_FORMAT
from hrm_agent.bench.suites import Task

SOURCES = ("math", "chains", "code", "plain")
DEFAULT_SOURCES = SOURCES
CHAIN_DEPTHS = (2, 3, 4)
FORMAT = "Answer: <number>"
CHAIN_FORMAT = "Answer: <answer>"
# The bench's generators seed random.Random with "curriculum:..." strings; these never collide with them.
_SEED_PREFIX = "hrm-tune"


@dataclass
class Step:
    subgoal: str
    code: str  # sets RESULT (and may set named variables later steps use)


@dataclass
class GenTask:
    """One generated task: the text the agent sees, the reference steps and the checked answer."""

    template: str
    task: Task
    steps: list[Step]
    instance: tuple = ()  # what identifies the template instance (for the disjointness check)
    plain: bool = False  # asked without an answer format (source `plain`)

    @property
    def depth(self) -> int:
        return len(self.steps)

    @property
    def text(self) -> str:
        """The task as the agent sees it: the prompt with its answer format, or bare for `plain` tasks."""
        return self.task.prompt.strip() if self.plain else self.task.agent_prompt()


@dataclass
class Example:
    """One chat sequence for mlx-lm's ChatDataset, with what the schedule and the report need."""

    messages: list[dict[str, str]]
    role: str
    steps: int
    template: str
    task_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "role": self.role, "steps": self.steps, "template": self.template,
                "task_id": self.task_id}


# -- number formatting ---------------------------------------------------------------------------------

def number_text(value: Any) -> str:
    """1279.4304000000002 -> '1279.4304', 135.0 -> '135': what a person writes after `Answer:`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def _money(rng: random.Random, lo: int, hi: int, cents: bool = True) -> float:
    value = rng.randint(lo * 100, hi * 100) / 100 if cents else rng.randint(lo, hi)
    return round(value * 4) / 4 if cents else value  # quarters: short decimals, as in real prices


# -- math templates (none is a template of configs/suites/math.yaml) -----------------------------------
# Each returns (prompt, steps). Names of people and things are drawn so that the text varies.

NAMES = ("Maya", "Leo", "Priya", "Tom", "Ines", "Omar", "Kai", "Sara", "Ben", "Lena", "Ravi", "Zoe")
_T = Callable[[random.Random], tuple[str, list[Step]]]


def _t_product(rng: random.Random) -> tuple[str, list[Step]]:
    a, b = rng.randint(11, 99), rng.randint(11, 99)
    return f"What is {a} * {b}?", [Step(f"Compute {a} * {b}", f"RESULT = {a} * {b}")]


def _t_expression(rng: random.Random) -> tuple[str, list[Step]]:
    a, b, c = rng.randint(2, 60), rng.randint(2, 60), rng.randint(2, 30)
    op = rng.choice(("+", "-"))
    return (f"What is ({a} {op} {b}) * {c}?",
            [Step(f"Compute {a} {op} {b}", f"s = {a} {op} {b}\nRESULT = s"),
             Step(f"Multiply the result by {c}", f"RESULT = s * {c}")])


def _t_quotient(rng: random.Random) -> tuple[str, list[Step]]:
    b = rng.choice((2, 4, 5, 8, 16, 25))
    a = rng.randint(100, 9999)
    return f"What is {a} divided by {b}?", [Step(f"Compute {a} / {b}", f"RESULT = {a} / {b}")]


def _t_power(rng: random.Random) -> tuple[str, list[Step]]:
    a, b = rng.randint(2, 12), rng.randint(2, 6)
    return f"What is {a} to the power {b}?", [Step(f"Compute {a} ** {b}", f"RESULT = {a} ** {b}")]


def _t_remainder(rng: random.Random) -> tuple[str, list[Step]]:
    a, b = rng.randint(100, 5000), rng.randint(3, 40)
    return (f"What is the remainder when {a} is divided by {b}?",
            [Step(f"Compute {a} % {b}", f"RESULT = {a} % {b}")])


def _t_sum_list(rng: random.Random) -> tuple[str, list[Step]]:
    nums = [rng.randint(10, 300) for _ in range(rng.randint(4, 7))]
    return (f"What is the sum of {', '.join(map(str, nums[:-1]))} and {nums[-1]}?",
            [Step("Add up the numbers", f"nums = {nums}\nRESULT = sum(nums)")])


def _t_change(rng: random.Random) -> tuple[str, list[Step]]:
    name, n, price = rng.choice(NAMES), rng.randint(2, 9), _money(rng, 1, 12)
    bill = rng.choice((20, 50, 100)) if n * price < 20 else (50 if n * price < 50 else 100)
    return (f"{name} buys {n} notebooks at ${price:.2f} each and pays with a ${bill} bill. How many dollars of "
            f"change does {name} get?",
            [Step("Compute the cost of the notebooks", f"cost = {n} * {price}\nRESULT = cost"),
             Step(f"Subtract the cost from {bill}", f"RESULT = round({bill} - cost, 2)")])


def _t_rolls(rng: random.Random) -> tuple[str, list[Step]]:
    trays, per, = rng.randint(3, 15), rng.randint(6, 24)
    sold = rng.randint(1, trays * per - 1)
    return (f"A bakery bakes {trays} trays of {per} rolls and sells {sold} of them. How many rolls are left?",
            [Step("Compute the number of rolls baked", f"baked = {trays} * {per}\nRESULT = baked"),
             Step("Subtract the rolls sold", f"RESULT = baked - {sold}")])


def _t_bus(rng: random.Random) -> tuple[str, list[Step]]:
    start = rng.randint(20, 60)
    off1, on1 = rng.randint(1, start - 5), rng.randint(1, 20)
    off2 = rng.randint(1, start - off1 + on1 - 1)
    return (f"A bus leaves with {start} passengers. At the first stop {off1} get off and {on1} get on. At the "
            f"second stop {off2} get off. How many passengers are on the bus now?",
            [Step("Compute the passengers after the first stop",
                  f"after1 = {start} - {off1} + {on1}\nRESULT = after1"),
             Step("Subtract the passengers leaving at the second stop", f"RESULT = after1 - {off2}")])


def _t_weeks_saving(rng: random.Random) -> tuple[str, list[Step]]:
    name, weekly, goal = rng.choice(NAMES), rng.randint(5, 40), rng.randint(100, 900)
    return (f"{name} saves ${weekly} every week. How many weeks does it take to save at least ${goal}?",
            [Step("Compute the number of weeks, rounding up",
                  f"import math\nRESULT = math.ceil({goal} / {weekly})")])


def _t_empty_seats(rng: random.Random) -> tuple[str, list[Step]]:
    seats, pct = rng.randint(20, 400) * 50, rng.choice((35, 40, 45, 55, 60, 64, 72, 75, 80, 85, 90))
    return (f"A stadium has {seats:,} seats and {pct}% of them are taken. How many seats are empty?",
            [Step("Compute the seats taken", f"taken = {seats} * {pct} / 100\nRESULT = taken"),
             Step("Subtract from the total", f"RESULT = {seats} - taken")])


def _t_two_discounts(rng: random.Random) -> tuple[str, list[Step]]:
    price, d1, d2 = rng.randint(4, 60) * 10, rng.choice((10, 20, 30, 40, 50)), rng.choice((5, 10, 15, 20, 25))
    return (f"A bicycle costs ${price}. The shop takes {d1}% off, and then a further {d2}% off the reduced "
            f"price. What does the bicycle cost now in dollars?",
            [Step(f"Apply the first discount of {d1}%", f"p1 = {price} * (1 - {d1} / 100)\nRESULT = p1"),
             Step(f"Apply the second discount of {d2}%", f"RESULT = round(p1 * (1 - {d2} / 100), 2)")])


def _t_drone(rng: random.Random) -> tuple[str, list[Step]]:
    speed, minutes = rng.randint(4, 25), rng.randint(2, 40)
    return (f"A drone flies at {speed} meters per second for {minutes} minutes. How many kilometers does it fly?",
            [Step("Compute the seconds of flight", f"seconds = {minutes} * 60\nRESULT = seconds"),
             Step("Compute the distance in kilometers", f"RESULT = {speed} * seconds / 1000")])


def _t_hike_minutes(rng: random.Random) -> tuple[str, list[Step]]:
    speed, km = rng.choice((3, 4, 5, 6)), rng.randint(2, 30)
    return (f"A hiker walks {km} km at a steady {speed} km/h. How many minutes does the walk take?",
            [Step("Compute the hours", f"hours = {km} / {speed}\nRESULT = hours"),
             Step("Convert the hours to minutes", "RESULT = round(hours * 60, 2)")])


def _t_triangle_area(rng: random.Random) -> tuple[str, list[Step]]:
    base, height = rng.randint(3, 60), rng.randint(3, 60)
    return (f"A triangle has a base of {base} cm and a height of {height} cm. What is its area in square "
            f"centimeters?", [Step("Compute half of base times height", f"RESULT = {base} * {height} / 2")])


def _t_rect_perimeter(rng: random.Random) -> tuple[str, list[Step]]:
    width, length = rng.randint(2, 30), rng.randint(31, 90)
    return (f"A rectangular yard has an area of {width * length} square meters and a width of {width} m. How "
            f"many meters is its perimeter?",
            [Step("Compute the length from the area", f"length = {width * length} / {width}\nRESULT = length"),
             Step("Compute the perimeter", f"RESULT = 2 * (length + {width})")])


def _t_cube_surface(rng: random.Random) -> tuple[str, list[Step]]:
    edge = rng.randint(2, 40)
    return (f"A cube has edges of {edge} cm. What is its total surface area in square centimeters?",
            [Step("Compute the area of one face", f"face = {edge} * {edge}\nRESULT = face"),
             Step("Multiply by the 6 faces", "RESULT = 6 * face")])


def _t_mean(rng: random.Random) -> tuple[str, list[Step]]:
    vals = [rng.randint(5, 95) for _ in range(rng.choice((4, 5, 6)))]
    days = ", ".join(map(str, vals))
    return (f"A cafe sold {days} cakes on {len(vals)} days. What is the mean number of cakes sold per day?",
            [Step("Compute the mean", f"sales = {vals}\nRESULT = round(sum(sales) / len(sales), 4)")])


def _t_sum_multiples(rng: random.Random) -> tuple[str, list[Step]]:
    k, n = rng.randint(3, 13), rng.randint(50, 600)
    return (f"What is the sum of all multiples of {k} from 1 to {n}?",
            [Step(f"Add up the multiples of {k}", f"RESULT = sum(range({k}, {n} + 1, {k}))")])


def _t_divisors(rng: random.Random) -> tuple[str, list[Step]]:
    n = rng.randint(12, 999)
    return (f"How many positive divisors does {n} have?",
            [Step("Count the divisors", f"RESULT = sum(1 for d in range(1, {n} + 1) if {n} % d == 0)")])


def _t_race_orders(rng: random.Random) -> tuple[str, list[Step]]:
    n = rng.randint(3, 9)
    return (f"{n} runners finish a race with no ties. In how many different orders can they finish?",
            [Step("Compute the number of orderings", f"import math\nRESULT = math.factorial({n})")])


def _t_flavour_pairs(rng: random.Random) -> tuple[str, list[Step]]:
    n, k = rng.randint(5, 20), rng.choice((2, 3))
    return (f"An ice cream shop has {n} flavours. How many different cups of {k} different flavours can you "
            f"choose (order does not matter)?",
            [Step("Count the combinations", f"import math\nRESULT = math.comb({n}, {k})")])


def _t_ribbon(rng: random.Random) -> tuple[str, list[Step]]:
    meters, cm, pieces = rng.randint(1, 9), rng.randint(1, 99), rng.choice((2, 4, 5, 8, 10))
    return (f"A ribbon is {meters} m {cm} cm long. It is cut into {pieces} equal pieces. How many centimeters "
            f"long is each piece?",
            [Step("Compute the total length in centimeters", f"total_cm = {meters} * 100 + {cm}\nRESULT = total_cm"),
             Step(f"Divide by {pieces}", f"RESULT = total_cm / {pieces}")])


def _t_film_minutes(rng: random.Random) -> tuple[str, list[Step]]:
    h, m, films = rng.randint(1, 3), rng.randint(1, 59), rng.randint(2, 5)
    return (f"A film lasts {h} h {m} min. How many minutes do {films} such films last in total?",
            [Step("Compute the minutes of one film", f"one = {h} * 60 + {m}\nRESULT = one"),
             Step(f"Multiply by {films}", f"RESULT = one * {films}")])


def _t_crate(rng: random.Random) -> tuple[str, list[Step]]:
    boxes, kg, crate = rng.randint(4, 40), rng.randint(2, 25), rng.randint(5, 30)
    return (f"A crate weighing {crate} kg holds {boxes} boxes of {kg} kg each. What is the total mass in kg?",
            [Step("Compute the mass of the boxes", f"boxes = {boxes} * {kg}\nRESULT = boxes"),
             Step("Add the crate", f"RESULT = boxes + {crate}")])


def _t_beads(rng: random.Random) -> tuple[str, list[Step]]:
    a, b, k = rng.randint(1, 7), rng.randint(1, 7), rng.randint(3, 20)
    return (f"A necklace has red and blue beads in the ratio {a}:{b}. It has {a * k} red beads. How many beads "
            f"does it have in total?",
            [Step("Compute the size of one ratio part", f"part = {a * k} / {a}\nRESULT = part"),
             Step("Compute the total beads", f"RESULT = part * ({a} + {b})")])


def _t_price_drop(rng: random.Random) -> tuple[str, list[Step]]:
    old = rng.randint(4, 40) * 50
    new = old * (100 - rng.choice((5, 10, 15, 20, 25, 30, 40))) // 100
    return (f"A laptop's price fell from ${old} to ${new}. By what percent did the price fall?",
            [Step("Compute the drop", f"drop = {old} - {new}\nRESULT = drop"),
             Step("Compute the drop as a percent of the old price", f"RESULT = round(drop / {old} * 100, 4)")])


def _t_plant(rng: random.Random) -> tuple[str, list[Step]]:
    h, g, w = rng.randint(2, 40), rng.randint(1, 9), rng.randint(2, 20)
    return (f"A sunflower is {h} cm tall and grows {g} cm every week. How tall is it in cm after {w} weeks?",
            [Step("Compute the growth", f"growth = {g} * {w}\nRESULT = growth"),
             Step("Add the starting height", f"RESULT = {h} + growth")])


def _t_views(rng: random.Random) -> tuple[str, list[Step]]:
    v, n, f = rng.randint(2, 90), rng.randint(3, 12), rng.choice((2, 3))
    word = {2: "double", 3: "triple"}[f]
    return (f"A video gets {v} views on day 1, and the daily views {word} every day. How many views does it get "
            f"on day {n}?",
            [Step(f"Compute the views on day {n}", f"RESULT = {v} * {f} ** ({n} - 1)")])


def _t_car_value(rng: random.Random) -> tuple[str, list[Step]]:
    value, pct, years = rng.randint(8, 40) * 1000, rng.choice((5, 10, 12, 15, 20)), rng.randint(2, 5)
    return (f"A car worth ${value:,} loses {pct}% of its value every year. What is it worth in dollars after "
            f"{years} years?",
            [Step("Apply the yearly loss for every year",
                  f"v = {value}\nfor _ in range({years}):\n    v = v * (1 - {pct} / 100)\nRESULT = round(v, 2)")])




def _t_diagonal(rng: random.Random) -> tuple[str, list[Step]]:
    a, b, c = rng.choice(((3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25), (20, 21, 29), (9, 40, 41)))
    k = rng.randint(1, 6)
    return (f"A TV screen is {a * k} inches wide and {b * k} inches tall. How many inches long is its diagonal?",
            [Step("Use Pythagoras", f"import math\nRESULT = math.hypot({a * k}, {b * k})")])


def _t_gcd(rng: random.Random) -> tuple[str, list[Step]]:
    g = rng.randint(2, 30)
    a, b = g * rng.randint(2, 30), g * rng.randint(2, 30)
    return (f"What is the greatest common divisor of {a} and {b}?",
            [Step("Compute the gcd", f"import math\nRESULT = math.gcd({a}, {b})")])


def _t_lcm(rng: random.Random) -> tuple[str, list[Step]]:
    a, b = rng.randint(4, 40), rng.randint(4, 40)
    return (f"What is the least common multiple of {a} and {b}?",
            [Step("Compute the lcm", f"import math\nRESULT = math.lcm({a}, {b})")])


def _t_primes_between(rng: random.Random) -> tuple[str, list[Step]]:
    lo = rng.randint(2, 300)
    hi = lo + rng.randint(20, 300)
    code = (f"def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n"
            f"RESULT = sum(1 for n in range({lo}, {hi} + 1) if is_prime(n))")
    return f"How many prime numbers are there from {lo} to {hi}?", [Step("Count the primes", code)]




def _t_bill_split(rng: random.Random) -> tuple[str, list[Step]]:
    people, bill, tip = rng.randint(2, 8), rng.randint(30, 400), rng.choice((10, 15, 18, 20))
    return (f"{people} friends share a restaurant bill of ${bill} plus a {tip}% tip equally. How many dollars "
            f"does each friend pay?",
            [Step("Compute the bill with the tip", f"total = {bill} * (1 + {tip} / 100)\nRESULT = total"),
             Step(f"Divide by {people}", f"RESULT = round(total / {people}, 2)")])


def _t_square_fence(rng: random.Random) -> tuple[str, list[Step]]:
    side = rng.randint(3, 90)
    return (f"A square field has an area of {side * side} square meters. How many meters of fence go around it?",
            [Step("Compute the side", f"import math\nside = math.isqrt({side * side})\nRESULT = side"),
             Step("Compute the perimeter", "RESULT = 4 * side")])


def _t_draw_probability(rng: random.Random) -> tuple[str, list[Step]]:
    r, g, y = rng.randint(1, 12), rng.randint(1, 12), rng.randint(1, 12)
    return (f"A box has {r} red, {g} green and {y} yellow balls. One ball is drawn at random. What is the "
            f"probability that it is green? Give it as a decimal rounded to 4 places.",
            [Step("Count all balls", f"total = {r} + {g} + {y}\nRESULT = total"),
             Step("Compute the probability of green", f"RESULT = round({g} / total, 4)")])


def _t_two_legs(rng: random.Random) -> tuple[str, list[Step]]:
    t1, v1, t2, v2 = rng.randint(1, 5), rng.randint(40, 110), rng.randint(1, 5), rng.randint(40, 110)
    return (f"A van drives {t1} hours at {v1} km/h and then {t2} hours at {v2} km/h. How many kilometers does it "
            f"drive in total?",
            [Step("Compute the first leg", f"leg1 = {t1} * {v1}\nRESULT = leg1"),
             Step("Compute the second leg", f"leg2 = {t2} * {v2}\nRESULT = leg2"),
             Step("Add the legs", "RESULT = leg1 + leg2")])


def _t_pages(rng: random.Random) -> tuple[str, list[Step]]:
    name, per, days = rng.choice(NAMES), rng.randint(5, 40), rng.randint(2, 9)
    pages = per * days + rng.randint(1, 300)
    return (f"A book has {pages} pages. {name} reads {per} pages a day for {days} days. How many pages are left?",
            [Step("Compute the pages read", f"read = {per} * {days}\nRESULT = read"),
             Step("Subtract from the total", f"RESULT = {pages} - read")])


def _t_net_pay(rng: random.Random) -> tuple[str, list[Step]]:
    wage, hours, days, tax = rng.randint(12, 40), rng.randint(4, 10), rng.randint(2, 6), rng.choice((10, 15, 20, 25))
    return (f"A nurse earns ${wage} an hour and works {hours} hours a day for {days} days. {tax}% is taken as tax. "
            f"How many dollars does she keep?",
            [Step("Compute the hours worked", f"total_hours = {hours} * {days}\nRESULT = total_hours"),
             Step("Compute the gross pay", f"gross = total_hours * {wage}\nRESULT = gross"),
             Step("Take off the tax", f"RESULT = round(gross * (1 - {tax} / 100), 2)")])


def _t_tiles_count(rng: random.Random) -> tuple[str, list[Step]]:
    tile, a, b = rng.choice((10, 20, 25, 50)), rng.randint(2, 12), rng.randint(2, 12)
    return (f"A kitchen floor is {a * tile * 2} cm by {b * tile} cm. How many square tiles of {tile} cm by {tile} cm "
            f"cover it exactly?",
            [Step("Count the tiles along each side", f"along = {a * tile * 2} // {tile}\nacross = {b * tile} // {tile}"
                  f"\nRESULT = along"),
             Step("Multiply the counts", "RESULT = along * across")])




TEMPLATES: dict[str, _T] = {
    "product": _t_product, "expression": _t_expression, "quotient": _t_quotient, "power": _t_power,
    "remainder": _t_remainder, "sum-list": _t_sum_list, "change": _t_change, "rolls": _t_rolls, "bus": _t_bus,
    "weeks-saving": _t_weeks_saving, "empty-seats": _t_empty_seats, "two-discounts": _t_two_discounts,
    "drone": _t_drone, "hike-minutes": _t_hike_minutes, "triangle-area": _t_triangle_area,
    "rect-perimeter": _t_rect_perimeter, "cube-surface": _t_cube_surface, "mean": _t_mean,
    "sum-multiples": _t_sum_multiples, "divisors": _t_divisors, "race-orders": _t_race_orders,
    "flavour-cups": _t_flavour_pairs, "ribbon": _t_ribbon, "film-minutes": _t_film_minutes, "crate": _t_crate,
    "beads": _t_beads, "price-drop": _t_price_drop, "plant": _t_plant, "views": _t_views,
    "car-value": _t_car_value, "diagonal": _t_diagonal, "gcd": _t_gcd, "lcm": _t_lcm,
    "primes-between": _t_primes_between, "bill-split": _t_bill_split,
    "square-fence": _t_square_fence, "draw-probability": _t_draw_probability, "two-legs": _t_two_legs,
    "pages": _t_pages, "net-pay": _t_net_pay, "tiles-count": _t_tiles_count,
}


# -- executing reference code the way the sandbox reports it ----------------------------------------------

def run_reference(code: str, variables: dict[str, Any]) -> tuple[Any, str, dict[str, Any]]:
    """Run our own reference code in-process; returns (RESULT as JSON, repr(RESULT), exported variables).

    The conversion and the exported variables come from the sandbox child itself, so a trace rendered
    from them shows exactly what the controller shows after the same code ran in the sandbox.
    """
    from hrm_agent.sandbox import child

    ns: dict[str, Any] = {"__name__": "__main__"}
    ns.update(json.loads(json.dumps(variables)))
    exec(compile(code, "<reference>", "exec"), ns)  # noqa: S102 - our own generated code, not the model's
    if "RESULT" not in ns:
        raise AssertionError(f"reference code does not set RESULT:\n{code}")
    value = ns["RESULT"]
    ns.pop("__builtins__", None)
    return child.to_json(value, False), repr(value), child.collect(ns, 64000)


# -- chains (the curriculum suite's operations) --------------------------------------------------------------

_CHAIN_CODE: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^add (\d+)$"), lambda m: f"x + {m[1]}"),
    (re.compile(r"^subtract (\d+)$"), lambda m: f"x - {m[1]}"),
    (re.compile(r"^multiply by (\d+)$"), lambda m: f"x * {m[1]}"),
    (re.compile(r"^divide by (\d+), dropping"), lambda m: f"x // {m[1]}"),
    (re.compile(r"^take the remainder after dividing by (\d+)$"), lambda m: f"x % {m[1]}"),
    (re.compile(r"^square it$"), lambda m: "x * x"),
    (re.compile(r"^replace the number by the sum of its decimal digits$"), lambda m: "sum(int(d) for d in str(x))"),
    (re.compile(r"^write the number in binary"), lambda m: 'format(x, "b")'),
    (re.compile(r"^reverse the string$"), lambda m: "x[::-1]"),
    (re.compile(r"^change every letter to upper case$"), lambda m: "x.upper()"),
    (re.compile(r"^sort its characters"), lambda m: '"".join(sorted(x))'),
    (re.compile(r'^append the letters "(\w+)" at the end$'), lambda m: f'x + "{m[1]}"'),
    (re.compile(r"^write the string twice in a row$"), lambda m: "x + x"),
    (re.compile(r"^remove the first character$"), lambda m: "x[1:]"),
    (re.compile(r"^remove every vowel"), lambda m: '"".join(c for c in x if c not in "aeiouAEIOU")'),
    (re.compile(r"^replace the string by its length"), lambda m: "len(x)"),
    (re.compile(r"^replace the string by the number of vowels"), lambda m: 'sum(c in "aeiouAEIOU" for c in x)'),
    (re.compile(r"^replace the string by the sum of its letters' positions"),
     lambda m: 'sum(ord(c) - 96 for c in x.lower() if "a" <= c <= "z")'),
]


def chain_code(step_text: str, source: str) -> str:
    """Python for one curriculum step applied to `source` (a literal or S1, S2, ...)."""
    for pattern, make in _CHAIN_CODE:
        m = pattern.search(step_text)
        if m:
            return f"x = {source}\nRESULT = {make(m)}"
    raise ValueError(f"no code for the curriculum step {step_text!r}")


def chain_task(seed: int, depth: int, index: int, forbidden: set[tuple] | frozenset = frozenset()) -> GenTask:
    """A curriculum-style chain from a seed stream the bench never uses (`hrm-tune:...`); a chain that is
    in `forbidden` (the bench's, see `bench_chains`) is drawn again, so short chains cannot coincide."""
    from hrm_agent.bench.curriculum import answer_text, describe_chain

    for attempt in range(1000):
        rng = random.Random(f"{_SEED_PREFIX}:chain:{seed}:{depth}:{index}:{attempt}")
        start, step_texts, values = make_chain(rng, depth)
        if (repr(start), tuple(step_texts)) not in forbidden:
            break
    steps = []
    for i, text in enumerate(step_texts, 1):
        source = json.dumps(start) if i == 1 else f"S{i - 1}"
        steps.append(Step(f"Step {i}: {text}", chain_code(text, source)))
    answer = values[-1]
    task = Task(id=f"tune-chain-d{depth}-{index:05d}", kind="exact" if isinstance(answer, str) else "numeric",
                prompt=describe_chain(start, step_texts), answer=answer_text(answer) if isinstance(answer, str) else answer,
                tolerance=0.0, rel_tol=0.0, depth=depth, tags=["tune", "chain", f"depth{depth}"])
    return GenTask("chain", task, steps, instance=(repr(start), tuple(step_texts)))


def math_task(seed: int, index: int, templates: tuple[str, ...] | None = None, plain: bool = False) -> GenTask:
    """Generated word problem `index` of `seed`: a template drawn in turn, its numbers drawn at random;
    `plain`: from its own seed stream, asked without an answer format."""
    names = templates or tuple(TEMPLATES)
    rng = random.Random(f"{_SEED_PREFIX}:{'plain' if plain else 'math'}:{seed}:{index}")
    name = names[index % len(names)] if index < len(names) else rng.choice(names)
    prompt, steps = TEMPLATES[name](rng)
    variables: dict[str, Any] = {}
    result: Any = None
    for i, step in enumerate(steps, 1):
        result, _r, exported = run_reference(step.code, variables)
        variables.update(exported)
        variables[f"S{i}"] = result
    task = Task(id=f"tune-{'plain-' if plain else ''}{name}-{seed}-{index:05d}", kind="numeric", prompt=prompt,
                answer=result, tags=["tune", name], depth=len(steps))
    return GenTask(name, task, steps, instance=(name, _skeleton(prompt)), plain=plain)


def code_task(seed: int, index: int) -> GenTask:
    """Generated function task `index` of `seed` (agent/tune/code_tasks.py): a template in turn, its constants
    and inputs drawn, in the coding suite's style or HumanEval's, one subgoal: write it and call it."""
    names = tuple(code_tasks.TEMPLATES)
    rng = random.Random(f"{_SEED_PREFIX}:code:{seed}:{index}")
    name = names[index % len(names)] if index < len(names) else rng.choice(names)
    spec = code_tasks.draw(name, rng)
    values = code_tasks.evaluate(spec)
    style = "docstring" if rng.random() < 0.5 else "suite"
    prompt = (code_tasks.docstring_prompt if style == "docstring" else code_tasks.suite_prompt)(spec, values[0])
    task = Task(id=f"tune-code-{name}-{seed}-{index:05d}", kind="code", prompt=prompt, entry_point=spec.entry,
                tests=code_tasks.tests_text(spec, values), solution=spec.solution, tags=["tune", "code", name],
                depth=1)
    step = Step(f"Write {spec.entry} and store {code_tasks.call_text(spec, spec.calls[0])} in RESULT",
                code_tasks.reply_code(spec))
    return GenTask(f"code-{name}", task, [step], instance=(spec.entry, _skeleton(prompt)))


# -- rendering the protocol ---------------------------------------------------------------------------------

def _task_format(gen: GenTask) -> str:
    """The format the controllers use for `gen` (hrm_agent.outcome.requested_format of its text)."""
    if gen.plain or gen.task.kind == "code":
        return DEFAULT_FORMAT
    return FORMAT if gen.task.kind == "numeric" else CHAIN_FORMAT


def _answer(gen: GenTask, fmt: str, result: Any) -> str:
    """The synthesizer's reply: the final RESULT in the format, as a person writes it."""
    from hrm_agent.outcome import fallback_answer, fill_format

    if gen.task.kind == "numeric":
        return fill_format(fmt, number_text(result))
    if gen.task.kind == "code":  # a list or a bool: exactly what the controllers' own fallback writes
        verdict = fallback_answer(fmt, result, [result])
        if not verdict.answered:
            raise AssertionError(f"{gen.task.id}: the fallback gives no answer for {result!r}: {verdict.detail}")
        return str(verdict.answer)
    return fill_format(fmt, result)


def render_task(gen: GenTask, prompts: dict[str, Any]) -> list[Example]:
    """Every model call of a correct run of `gen`, in both controllers' protocols, with the live prompts."""
    from hrm_agent.prompts import context_text, format_results, format_variables, render

    task = gen.task
    text = gen.text
    fmt = _task_format(gen)
    out: list[Example] = []

    def add(role: str, messages: list[dict[str, str]], reply: str) -> None:
        out.append(Example(messages=[*messages, {"role": "assistant", "content": reply}], role=role,
                           steps=gen.depth, template=gen.template, task_id=task.id))

    plan = {"subgoals": [s.subgoal for s in gen.steps], "final_format": fmt}
    add("planner", render(prompts, "planner", task=text, context=context_text({})), json.dumps(plan))
    variables: dict[str, Any] = {}
    logs: list[dict[str, Any]] = []
    for i, step in enumerate(gen.steps, 1):
        add("solver", render(prompts, "solver", task=text, subgoal=step.subgoal,
                             variables=format_variables(variables), feedback=""),
            f"```python\n{step.code}\n```")
        result, result_repr, exported = run_reference(step.code, variables)
        variables.update(exported)
        variables[f"S{i}"] = result
        logs.append({"subgoal": step.subgoal, "ok": True, "result": result, "result_repr": result_repr, "error": ""})
    results = format_results(logs)
    add("critic", render(prompts, "critic", task=text, results=results),
        json.dumps({"action": "submit", "reason": "every subgoal ran and the last result answers the task"}))
    answer = _answer(gen, fmt, logs[-1]["result"])
    add("synthesizer", render(prompts, "synthesizer", task=text, results=results, final_format=fmt), answer)
    add("flat", render(prompts, "flat", task=text, context=context_text({}), feedback=""),
        f"```python\n{flat_code(gen)}\n```")
    return out


def flat_code(gen: GenTask) -> str:
    """The whole reference solution as one program; RESULT is the final value (a number or a short string;
    for a code task, the function's value on the example)."""
    if gen.task.kind == "code":
        return gen.steps[0].code
    lines = []
    for i, step in enumerate(gen.steps, 1):
        lines.append(step.code.replace("RESULT =", f"S{i} =") if "RESULT =" in step.code else step.code)
    lines.append(f"RESULT = S{len(gen.steps)}")  # a bare value: the flat controller puts it into the format
    code = "\n".join(lines)
    return _tidy_imports(code)


def _tidy_imports(code: str) -> str:
    """One `import math` at the top instead of one per step."""
    if "import math" not in code:
        return code
    body = [line for line in code.splitlines() if line.strip() != "import math"]
    return "\n".join(["import math", *body])


def generate(n_tasks: int, seed: int = 0, sources: tuple[str, ...] = DEFAULT_SOURCES,
             depths: tuple[int, ...] = CHAIN_DEPTHS) -> list[GenTask]:
    """`n_tasks` tasks, the sources interleaved (math, chains, code, plain, math, ...), chain depths in turn."""
    for source in sources:
        if source not in SOURCES:
            raise ValueError(f"unknown data source {source!r}; choose from {', '.join(SOURCES)}")
    tasks: list[GenTask] = []
    counters = dict.fromkeys(sources, 0)
    forbidden = bench_chains(bench_items()) if "chains" in sources else set()
    for i in range(n_tasks):
        source = sources[i % len(sources)]
        j = counters[source]
        counters[source] += 1
        if source == "math":
            tasks.append(math_task(seed, j))
        elif source == "plain":
            tasks.append(math_task(seed, j, plain=True))
        elif source == "code":
            tasks.append(code_task(seed, j))
        else:
            tasks.append(chain_task(seed, depths[j % len(depths)], j // len(depths), forbidden))
    return tasks


def build_examples(tasks: list[GenTask], prompts: dict[str, Any]) -> list[Example]:
    return [ex for gen in tasks for ex in render_task(gen, prompts)]


# -- disjointness from the bench ---------------------------------------------------------------------------------

def _skeleton(text: str) -> str:
    """The text with numbers masked and case and spacing folded: one template's instances share it."""
    text = re.sub(r"[$€£]?\d[\d,]*(?:\.\d+)?", "#", text.lower())
    return re.sub(r"\s+", " ", text).strip()


def _words(text: str) -> set[str]:
    """Content words; HumanEval's instruction line, which our docstring-style prompts repeat, left out."""
    text = text.replace(code_tasks.HUMANEVAL_PREAMBLE, " ")
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3}


def bench_items() -> list[Task]:
    """Every item the bench can evaluate on, offline: the YAML suites, HumanEval (when its wheel is
    installed) and the curriculum's default seeds."""
    from hrm_agent.bench.curriculum import curriculum_suite
    from hrm_agent.bench.suites import SuiteError, load_suite

    items = []
    for name in ("math", "coding"):
        items.extend(load_suite(name).tasks)
    try:
        items.extend(load_suite("humaneval").tasks)
    except SuiteError:  # not installed: nothing of it can be evaluated either
        pass
    for seed in range(5):
        items.extend(curriculum_suite(per_depth=30, seed=seed).tasks)
    return items


def bench_chains(bench: list[Task]) -> set[tuple]:
    """(start, steps) of every bench curriculum item, rebuilt from its seed and index."""
    chains = set()
    for t in bench:
        if t.depth is not None and t.source.startswith("curriculum:seed="):
            seed = int(t.source.split("=")[1])
            index = int(t.id.rsplit("-", 1)[1])
            start, steps, _values = make_chain(random.Random(f"curriculum:{seed}:{t.depth}:{index}"), t.depth)
            chains.add((repr(start), tuple(steps)))
    return chains


def check_disjoint(tasks: list[GenTask], bench: list[Task] | None = None, max_overlap: float = 0.5) -> list[str]:
    """Problems (empty when none): a generated task whose text equals a bench item, shares its masked
    skeleton (same template, other numbers), reuses a bench chain (same start and steps), defines a
    function a bench code task asks for (same name), or shares more than `max_overlap` of their content
    words (Jaccard, 3 words at least) with a bench item (a reworded template)."""
    bench = bench if bench is not None else bench_items()
    chains = bench_chains(bench)
    index = bench_index(bench)
    texts = {t.prompt.strip(): t.id for t in bench}
    problems = []
    for gen in tasks:
        if gen.template == "chain":
            if gen.task.prompt.strip() in texts:
                problems.append(f"{gen.task.id}: same text as bench item {texts[gen.task.prompt.strip()]}")
            if gen.instance in chains:
                problems.append(f"{gen.task.id}: the same chain as a bench curriculum item")
            continue
        entry = gen.task.entry_point if gen.task.kind == "code" else None
        problems.extend(text_overlaps(gen.task.id, gen.task.prompt, index, entry_point=entry,
                                      max_overlap=max_overlap))
    return problems


def bench_index(bench: list[Task] | None = None) -> list[tuple[Task, str, set[str]]]:
    """Each bench item with its masked skeleton and content words, computed once for `text_overlaps`."""
    bench = bench if bench is not None else bench_items()
    return [(t, _skeleton(t.prompt), _words(t.prompt)) for t in bench]


def text_overlaps(name: str, text: str, index: list[tuple[Task, str, set[str]]] | None = None, *,
                  entry_point: str | None = None, max_overlap: float = 0.5) -> list[str]:
    """How `text` (a task shown to the model: a tuning example, a few-shot demonstration) overlaps a bench
    item (`bench_index`): the same text, the same masked skeleton, more than `max_overlap` of their content
    words (Jaccard, 3 words at least), or (`entry_point`) the name of a function a bench code task asks for.
    Empty when it is disjoint. Curriculum chains are compared by their text only."""
    index = index if index is not None else bench_index()
    text = text.strip()
    skeleton, words = _skeleton(text), _words(text)
    problems = []
    for t, bench_skeleton, bench_words in index:
        if text == t.prompt.strip():
            problems.append(f"{name}: same text as bench item {t.id}")
        if entry_point and t.kind == "code" and (t.entry_point or "").lower() == entry_point.lower():
            problems.append(f"{name}: defines {entry_point}, as bench item {t.id} asks")
        if t.depth is not None:
            continue
        if skeleton == bench_skeleton:
            problems.append(f"{name}: same template as bench item {t.id}")
        if words and bench_words:
            shared = len(words & bench_words)
            if shared >= 3 and shared / len(words | bench_words) > max_overlap:
                problems.append(f"{name}: {shared / len(words | bench_words):.0%} of its words are in bench "
                                f"item {t.id}")
    return problems


def verify(tasks: list[GenTask]) -> list[str]:
    """Each reference solution reaches the task's answer (chains: the generator's own value)."""
    from hrm_agent.bench.suites import check_answer

    problems = []
    for gen in tasks:
        if gen.task.kind == "code":
            problems.extend(_verify_code(gen))
            continue
        variables: dict[str, Any] = {}
        result: Any = None
        for i, step in enumerate(gen.steps, 1):
            result, _r, exported = run_reference(step.code, variables)
            variables.update(exported)
            variables[f"S{i}"] = result
        shown = number_text(result) if gen.task.kind == "numeric" else str(result)
        if not check_answer(gen.task, f"Answer: {shown}").passed:
            problems.append(f"{gen.task.id}: reference gives {shown!r}, expected {gen.task.answer!r}")
    return problems


def _verify_code(gen: GenTask) -> list[str]:
    """The reply code runs, sets RESULT and defines the entry point; the reference passes the task's tests.
    In-process: all of it is our own code (the bench runs the model's in the sandbox)."""
    try:
        _result, _r, _exported = run_reference(gen.steps[0].code, {})
        ns: dict[str, Any] = {}
        exec(compile(f"{gen.task.solution}\n{gen.task.tests}", f"<{gen.task.id}>", "exec"), ns)  # noqa: S102
    except Exception as exc:  # noqa: BLE001 - any failure of a template is a problem to report
        return [f"{gen.task.id}: {type(exc).__name__}: {exc}"]
    if not re.search(rf"^def {re.escape(gen.task.entry_point or '')}\(", gen.steps[0].code, re.M):
        return [f"{gen.task.id}: the reply does not define {gen.task.entry_point}"]
    return []


def data_recipe(n_tasks: int, seed: int, sources: tuple[str, ...]) -> dict[str, Any]:
    """What the manifest records about the data, enough to regenerate it (`generator` keeps the name adapters
    were made under before agent/tune/ existed, so their manifests still compare equal on --resume)."""
    return {"generator": "hrm_agent.tune_data", "tasks": n_tasks, "seed": seed, "sources": list(sources),
            "math_templates": len(TEMPLATES), "code_templates": len(code_tasks.TEMPLATES),
            "chain_depths": list(CHAIN_DEPTHS),
            "roles": ["planner", "solver", "critic", "synthesizer", "flat"]}


__all__ = ["DEFAULT_SOURCES", "Example", "GenTask", "Step", "TEMPLATES", "SOURCES", "bench_index", "build_examples",
           "check_disjoint", "chain_task", "code_task", "data_recipe", "flat_code", "generate", "math_task",
           "number_text", "render_task", "text_overlaps", "verify"]
