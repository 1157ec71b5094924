"""A raw container written with the real Flyte SDK (flyte.extras.ContainerTask): plain `sh`, its input as a template
variable and its output as a file, through CoPilot (e2e/copilot_check.py)."""

import flyte
from flyte.extras import ContainerTask

square = ContainerTask(
    name="square",
    image="alpine:3.20",
    input_data_dir="/var/inputs",
    output_data_dir="/var/outputs",
    inputs={"x": int},
    outputs={"o0": int},
    command=["sh", "-c", "expr {{.inputs.x}} '*' $(cat /var/inputs/x) > /var/outputs/o0"],
)
env = flyte.TaskEnvironment.from_task("container", square)
