"""An action's inputs and outputs: where they are, their encoding, and local files written and read back."""

from __future__ import annotations

import pytest
from flyteidl2.task import common_pb2

from taskaction_operator.client import action_io, errors
from taskaction_operator.storage import paths

from .builders import RUNNING, ta


def test_output_uri_is_the_sharded_prefix_of_the_current_attempt() -> None:
    obj = ta("a0", None, RUNNING)
    assert action_io.output_uri(obj) == paths.action_output_prefix("flyte", "r-a0", "s3://b/r/", "a0", 1)
    obj["status"]["attempts"] = 3
    assert action_io.output_uri(obj).endswith("/r/a0/3")


def test_inputs_and_outputs_round_trip() -> None:
    message = action_io.inputs_message(n=5, x=2.5, who="ada", ok=True)
    assert [n.value.scalar.primitive.WhichOneof("value") for n in message.literals] == ["integer", "float_value", "string_value", "boolean"]
    outputs = common_pb2.Outputs(literals=list(message.literals))
    assert action_io.outputs_to_dict(outputs.SerializeToString()) == {"n": 5, "x": 2.5, "who": "ada", "ok": True}
    assert action_io.outputs_to_dict(b"") == {}


async def test_write_inputs_and_read_outputs_on_local_files(tmp_path) -> None:
    from taskaction_operator.settings import Settings
    from taskaction_operator.storage.filesystems import close_filesystems

    try:
        path = await action_io.write_inputs(f"file://{tmp_path}/run/inputs", settings=Settings(), a=1)
        assert path == f"file://{tmp_path}/run/inputs/inputs.pb"
        assert [n.name for n in common_pb2.Inputs.FromString((tmp_path / "run/inputs/inputs.pb").read_bytes()).literals] == ["a"]
        (tmp_path / "out").mkdir()
        (tmp_path / "out/outputs.pb").write_bytes(common_pb2.Outputs(literals=list(action_io.inputs_message(o="k").literals)).SerializeToString())
        assert await action_io.read_outputs(f"file://{tmp_path}/out", settings=Settings()) == {"o": "k"}
        with pytest.raises(errors.NotFound):
            await action_io.read_outputs(f"file://{tmp_path}/none", settings=Settings())
    finally:
        await close_filesystems()
