"""Self-consistency (`--samples K`, docs/agent-voting.md): K sampled programs vote on their RESULT values.

    ballot.py             the settings (K, min_agreement), what counts as the same value, and the count
    voted_controllers.py  the flat and hierarchical controllers with K sampled programs per voted step
"""
