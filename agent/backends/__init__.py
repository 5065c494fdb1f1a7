"""The LLM backends behind one interface (`chat.Backend`): the controllers never see which one answers.

    chat.py         the interface: messages in, text out, with usage and latency
    http.py         OpenAI-compatible servers and Ollama, and `make_backend` to pick any backend by name
    mlx_backend.py  the in-process mlx-lm model (the offline default)
    local_model.py  the bundled SmolLM2-135M-Instruct, converted once for mlx-lm
    adapters.py     LoRA adapters from `hrm agent tune`, found by name or folder for the mlx backend
"""
