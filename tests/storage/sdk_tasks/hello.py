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


# The shapes the pod gets from the template (docs/flyte-compatibility.md, "Task shapes"): a secret read from its env
# var, a GPU accelerator with a MIG partition, shared memory, interruptible set on the environment.
shaped = flyte.TaskEnvironment(
    name="taskaction_sdk_shapes",
    secrets=[flyte.Secret(key="api-key", group="creds", as_env_var="API_KEY")],
    resources=flyte.Resources(cpu=1, memory="1Gi", gpu=flyte.GPU(device="A100", quantity=1, partition="1g.5gb"), shm="auto"),
    interruptible=True,
)


@shaped.task
def secret_length(x: int) -> int:
    import os

    return len(os.environ["API_KEY"]) * x
