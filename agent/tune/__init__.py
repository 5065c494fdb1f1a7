"""`hrm agent tune`: LoRA fine-tuning of the local model on traces of the agent's own protocol.

    lora.py        the options, the resumable training loop and its checkpoints (mlx-lm's LoRA pieces)
    data.py        the training examples: generated tasks rendered with the live prompts, checked disjoint
                   from every bench item
    code_tasks.py  the function-writing task templates (`--data code`) with reference solutions

Where adapters live and how a run finds one: hrm_agent.backends.adapters.
"""
