"""Tasks written with the real Flyte SDK, serialized offline and run by its `a0` entrypoint in test_flyte_sdk.py.

This file is shipped to the task as the code bundle (fast<md5>.tar.gz); keep it free of imports from the tests.
"""

import flyte

env = flyte.TaskEnvironment(name="taskaction_sdk_proof")


@env.task
def double(x: int) -> int:
    return x * 2


@env.task
def explode(x: int) -> int:
    raise ValueError(f"exploded on {x}")
