"""The reference implementation (sapientinc/HRM) in our engine: its checkpoints read without PyTorch
(torch_pickle), converted and imported (convert), and numerical parity with it (parity).
"""
