"""Solving and test-time work: one puzzle's answer (solution), the augmented samples and their vote
(tta, voting), ARC tasks (arc_task, arc_solve, arc_scoring), evaluation samples (eval_samples) and the
solve trace (solve_trace).
"""
