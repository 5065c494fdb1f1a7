"""What a benchmark is made of: `Task` (one prompt and how its answer is checked) and `Suite` (named tasks).

Plain records, shared by the suite loader (suites.py) and the generated curriculum (curriculum.py), and
stored as JSON in every bench run (suite.json), so a resumed run reads back the tasks it started with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Task:
    """One benchmark task. `answer` is the expected value for numeric/exact; code tasks have `tests`."""

    id: str
    kind: str
    prompt: str
    answer: Any = None
    entry_point: str | None = None
    tests: str | None = None
    setup: str = ""  # code tasks: run before the candidate (HumanEval's imports and helper functions)
    solution: str | None = None  # code tasks: a reference solution, used by `--validate`
    tolerance: float | None = None  # numeric: absolute tolerance
    rel_tol: float | None = None  # numeric: relative tolerance
    case_sensitive: bool = True  # exact
    context: dict[str, Any] = field(default_factory=dict)  # variables handed to the agent's code
    tags: list[str] = field(default_factory=list)
    depth: int | None = None  # curriculum: number of steps
    split: str | None = None  # curriculum: "train" (depth 2-4) or "heldout" (5-6)
    source: str = ""  # FILE:LINE of the task, for messages

    def agent_prompt(self) -> str:
        """The task text the agent sees: the prompt plus the answer format the checker reads."""
        text = self.prompt.strip()
        if self.kind == "code":
            return (f"{text}\n\nWrite the Python function `{self.entry_point}` (standard library only). Your code "
                    f"must define `{self.entry_point}`; call it on one example and store that value in RESULT.")
        if self.kind == "numeric":
            return f"{text}\nReturn exactly: 'Answer: <number>'"
        return f"{text}\nReturn exactly: 'Answer: <answer>'"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Suite:
    """Named tasks: a YAML file, a built-in, or generated (curriculum)."""

    name: str
    tasks: list[Task]
    description: str = ""
    source: str = ""  # the file, or `builtin:NAME`

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "source": self.source,
                "tasks": [t.to_dict() for t in self.tasks]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Suite:
        return cls(name=data["name"], description=data.get("description", ""), source=data.get("source", ""),
                   tasks=[Task.from_dict(t) for t in data["tasks"]])
