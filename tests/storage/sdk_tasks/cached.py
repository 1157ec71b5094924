"""A task with `cache=`, written with the real Flyte SDK: its root gets spec.cacheKey as the runs service computes it
(tests/storage/test_sdk_submit.py).

This file is shipped to the task as the code bundle; keep it free of imports from the tests.
"""

import flyte

env = flyte.TaskEnvironment(name="cached")


@env.task(cache=flyte.Cache(behavior="override", version_override="v2", ignored_inputs=("note",)))
async def square(x: int, note: str = "") -> int:
    return x * x
