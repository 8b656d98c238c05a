"""GRPO for the editing agents: pure math in `core`, RLlib plumbing in `algorithm`/`learner`/`module`."""
