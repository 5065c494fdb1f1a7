"""Adapting a trained recursive model to an ARC task it never trained on (issue 31).

HRM and TRM learn one embedding per puzzle identifier; an unseen task has none. These modules choose
one from the task's demonstration pairs alone and then answer its test inputs with it:

- `space.py`: the low-dimensional latent space searched (principal components of the trained rows);
- `forward.py`: the model run with candidate embeddings as rows, scored on the demonstrations;
- `search.py`: the methods (none, mean, random, bopro, gradient) under one budget of evaluations;
- `task.py`: one task adapted and answered (`hrm solve --task --adapt`);
- `measure.py`: many held-out tasks, curves against evaluations, intervals (`hrm eval --adapt`);
- `points.py`: the JSON lines a search writes, read back by the dashboard.

docs/test-time-adaptation.md has the design, the budget accounting and the measurements.
"""

METHODS = ("none", "mean", "random", "bopro", "gradient", "trained")  # here, so completions need not import MLX
