"""editrl environments: tasks, datasets, the Canvas world and the editing environment.

Importing the package registers the rewards that need an environment's world model with the :mod:`rewards`
registry (``grounded_f1``, from :mod:`envs.canvas.grounding`; ``plan_checklist``, from :mod:`envs.canvas.plan_reward`): the rewards layer sits below the environments and
cannot import them, so the environment adds its rewards when it is loaded.
"""

from __future__ import annotations

from envs.canvas import grounding as _grounding  # noqa: F401  (registers the grounded_f1 reward)
from envs.canvas import plan_reward as _plan_reward  # noqa: F401  (registers the plan_checklist reward)
