"""A parent task and two children, written with the real Flyte SDK: submitted by `taskaction submit -f pipeline.py
--task pipeline -i x=5` (tests/storage/test_sdk_submit.py offline, and the cluster acceptance test, where
pipeline(5) must give 20). Keep the names and the semantics.

This file is shipped to the task as the code bundle (fast<md5>.tar.gz); keep it free of imports from the tests.
"""

import flyte

env = flyte.TaskEnvironment(name="pipeline")


@env.task
async def step_one(x: int) -> int:
    return x * 2


@env.task
async def step_two(y: int) -> int:
    return y + 10


@env.task
async def pipeline(x: int) -> int:
    return await step_two(await step_one(x))
