"""What the training loop (engine/train.py) uses beside the model: the weights' moving average (ema),
batches prepared ahead (prefetch) and data parallelism over processes (distributed).
"""
