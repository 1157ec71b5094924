"""A parent whose child raises, written with the real Flyte SDK: the child's error must reach the parent through the
actions service and end the run (tests/cluster/test_sdk_pipeline.py).

This file is shipped to the task as the code bundle; keep it free of imports from the tests.
"""

import flyte

env = flyte.TaskEnvironment(name="child_failure")


@env.task
async def explode(x: int) -> int:
    raise ValueError(f"cannot take {x}")


@env.task
async def guarded(x: int) -> int:
    return await explode(x)
