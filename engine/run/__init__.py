"""What a run leaves on disk and reads back: the run directory (directory), checkpoints (checkpoint),
the small files' readers (run_files) and the per-machine cache (cache).
"""
