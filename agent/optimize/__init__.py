"""`hrm agent optimize`: Bayesian optimisation via prompting (BOPRO) against random search on the same budget.

    bopro.py       the search (`BoproSearch`: both arms, the run directory) and the seed comparison
    objectives.py  the task YAML, its validation, and the objectives that score candidates
    embedding.py   the latent vectors of candidate texts (a local model's hidden states, or hashing)

The Gaussian process and the acquisition functions are the engine's (hrm_engine.bayesopt), shared with
`hrm solve --adapt bopro`.
"""
