"""Measuring the training step: its throughput (throughput), where its time goes (step_profile) and
time to accuracy (learn).
"""
