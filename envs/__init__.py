"""editrl environments: tasks, datasets, the Canvas world and the editing environment.

Importing the package registers the rewards that need an environment's world model with the :mod:`rewards`
registry (``grounded_f1``, from :mod:`envs.canvas.grounding`): the rewards layer sits below the environments and
cannot import them, so the environment adds its rewards when it is loaded.
"""

from __future__ import annotations

from envs.canvas import grounding as _grounding  # noqa: F401  (registers the grounded_f1 reward)
