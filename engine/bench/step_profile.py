"""Where a training step's time goes: its phases timed one by one, on whatever device MLX runs.

Why: "what limits the step" (the no-gradient cycles, the one-step-gradient cycle, the Q-learning target,
the optimizers, the host) should be answered the same way on a laptop, this CPU and an H100, without a
vendor profiler. Each phase is compiled on its own and timed at the trainer's real shapes and carry; the
sum is compared with the real compiled step, whose graph the host also has to replay every step.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import mlx.core as mx

from hrm_engine.losses import act_loss

PHASES = ("no_grad_cycles", "gradient_cycle", "q_target", "optimizers")


def _median_seconds(run: Callable[[], Any], reps: int) -> float:
    for _ in range(2):  # compile and warm up
        mx.eval(run())
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        mx.eval(run())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def profile_step(trainer: Any, reps: int = 5) -> dict[str, float]:
    """Milliseconds per phase, for the real step and for the host's launch of it, after `trainer` has warmed up."""
    if trainer.carry is None:
        trainer.step()
    model, opt = trainer.model, trainer.optimizer
    carry = {k: mx.array(v) for k, v in trainer.carry.items()}
    z_H, z_L, inputs, ids = carry["z_H"], carry["z_L"], carry["inputs"], carry["puzzle_identifiers"]
    rows = model.puzzle_emb[ids]
    loss_type = model.config.loss

    def no_grad(zh, zl, inp, r):
        return model.shards.run(lambda a, b, c, d: model.no_grad_cycles(a, b, model.input_embeddings(c, d)),
                                zh, zl, inp, r)

    params = model.trainable_parameters()

    def gradient_loss(p, r, zh, zl, inp):
        model.update(p)
        try:
            out = model.shards.run(lambda a, b, c, d: model.gradient_cycle(a, b, model.input_embeddings(c, d)),
                                   zh, zl, inp, r)
        finally:
            model.update(params)  # the module keeps its real arrays, not the traced ones
        outputs = {"logits": out[2], "q_halt_logits": out[3], "q_continue_logits": out[4]}
        loss, _ = act_loss(outputs, carry["labels"], carry["halted"], carry["steps"] + 1, loss_type)
        return loss / trainer.global_batch_size

    no_grad_c = mx.compile(no_grad)
    grad_c = mx.compile(mx.value_and_grad(gradient_loss, argnums=(0, 1)))
    q_c = mx.compile(lambda zh, zl, inp, r: model.segment_q(zh, zl, inp, r))
    ms = {
        "no_grad_cycles": _median_seconds(lambda: no_grad_c(z_H, z_L, inputs, rows), reps),
        "gradient_cycle": _median_seconds(lambda: grad_c(params, rows, z_H, z_L, inputs), reps),
        # halting from q_halt alone (TRM's default) has no bootstrapped target: the step runs no such segment
        "q_target": 0.0 if getattr(model.config, "no_ACT_continue", False)
        else _median_seconds(lambda: q_c(z_H, z_L, inputs, rows), reps),
    }
    (_, (grads, row_grads)) = grad_c(params, rows, z_H, z_L, inputs)
    mx.eval(grads, row_grads)
    state = [model.state, opt.state]
    update = mx.compile(lambda g, rg, lr: trainer.apply_updates(g, ids, rg, lr), inputs=state, outputs=state)
    lr = mx.array(trainer.puzzle_lr_fn.at(trainer.step_count))
    ms["optimizers"] = _median_seconds(lambda: (update(grads, row_grads, lr), state)[1], reps)

    steps, hosts = [], []
    for _ in range(reps):
        start = time.perf_counter()
        trainer.step()
        steps.append(time.perf_counter() - start)
        hosts.append(trainer.last_launch_s)
    ms = {k: v * 1e3 for k, v in ms.items()}
    ms["sum_of_phases"] = sum(ms[k] for k in PHASES)
    ms["full_step"] = statistics.median(steps) * 1e3
    ms["host_launch"] = statistics.median(hosts) * 1e3
    return ms
