"""`client.sdk` without storage: run names, command-line inputs read as the task's declared types, and loading the
task from a file. The bundle, the template and the uploads are in tests/storage/test_sdk_submit.py."""

from __future__ import annotations

import inspect
import re
import sys
import uuid
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskaction_operator.client import errors, sdk
from taskaction_operator.client.names import validate_run_name

EMPTY = inspect.Parameter.empty


def test_new_run_names_are_like_the_run_services() -> None:
    names = {sdk.new_run_name() for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert re.fullmatch(r"r[a-z0-9]{19}", name)
        validate_run_name(name)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [("pipeline.py", True), ("dir/tasks.py", True), ("run.yaml", False), ("run.json", False), ("-", False), (None, False)],
)
def test_is_sdk_file(filename: str | None, expected: bool) -> None:
    assert sdk.is_sdk_file(filename) is expected


@pytest.mark.parametrize(
    ("text", "declared", "value"),
    [
        ("5", int, 5),
        ("-12", int, -12),
        ("2.5", float, 2.5),
        ("3", float, 3.0),
        ("true", bool, True),
        ("False", bool, False),
        ("no", bool, False),
        ("1", bool, True),
        # a str input takes the text as typed, JSON-looking or not
        ("5", str, "5"),
        ("1e3", str, "1e3"),
        ('"quoted"', str, '"quoted"'),
        ("hello world", str, "hello world"),
        ("", str, ""),
        ("[1, 2]", list[int], [1, 2]),
        ('["1", "2"]', list[int], [1, 2]),
        ('{"a": 1.5}', dict[str, float], {"a": 1.5}),
        ('{"1": true}', dict[int, bool], {1: True}),
        ("null", Optional[int], None),
        ("7", int | None, 7),
        ('{"free": ["form"]}', Any, {"free": ["form"]}),
    ],
)
def test_inputs_are_read_as_the_declared_type(text: str, declared: Any, value: Any) -> None:
    got = sdk.coerce_input("x", text, declared)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("text", "declared", "message"),
    [
        ("five", int, "input 'x' expects int, got 'five': invalid literal for int()"),
        ("2.5", int, "not an integer"),
        ("true", int, "not an integer"),
        ("abc", float, "expects float, got 'abc'"),
        ("true", float, "not a number"),
        ("maybe", bool, "not a boolean"),
        ("2", bool, "not a boolean"),
        ("5", list[int], "not a JSON list"),
        ("[1, 2]", dict[str, int], "not a JSON object"),
        ('["a"]', list[int], "expects list[int], got '[\"a\"]'"),
        ("[1]", list[str], "not a string"),
        ("1.5", Optional[int], "expects Optional[int], got '1.5': not an integer"),
    ],
)
def test_inputs_that_do_not_convert_name_the_input(text: str, declared: Any, message: str) -> None:
    with pytest.raises(errors.ClientError, match=re.escape(message)) as exc:
        sdk.coerce_input("x", text, declared)
    assert "input 'x'" in str(exc.value)


@given(st.integers())
def test_any_integer_round_trips(n: int) -> None:
    assert sdk.coerce_input("n", str(n), int) == n


@given(st.text())
def test_any_text_is_a_str_input_as_is(text: str) -> None:
    assert sdk.coerce_input("s", text, str) == text


DECLARED = {"x": (int, EMPTY), "name": (str, "world"), "flag": (bool, False)}


def test_coerce_inputs_with_defaults_left_to_the_sdk() -> None:
    assert sdk.coerce_inputs("t", DECLARED, {"x": "5"}) == {"x": 5}
    assert sdk.coerce_inputs("t", DECLARED, {"x": "5", "name": "ada", "flag": "true"}) == {"x": 5, "name": "ada", "flag": True}


def test_unknown_inputs_are_named_with_what_the_task_takes() -> None:
    with pytest.raises(errors.ClientError) as exc:
        sdk.coerce_inputs("pipeline", DECLARED, {"x": "5", "y": "1"})
    assert str(exc.value) == "task 'pipeline' has no input 'y'; it takes x: int, name: str, flag: bool"


def test_missing_required_inputs_are_named() -> None:
    with pytest.raises(errors.ClientError) as exc:
        sdk.coerce_inputs("pipeline", DECLARED, {"name": "ada"})
    assert str(exc.value) == "task 'pipeline' needs the input 'x' (-i x=VALUE)"


def test_every_missing_input_is_named() -> None:
    declared = {"x": (int, EMPTY), "y": (Optional[int], EMPTY)}
    with pytest.raises(errors.ClientError) as exc:
        sdk.coerce_inputs("t", declared, {})
    assert str(exc.value) == "task 't' needs the inputs 'x', 'y' (-i x=VALUE -i y=VALUE)"


def test_a_task_without_inputs() -> None:
    assert sdk.coerce_inputs("t", {}, {}) == {}
    with pytest.raises(errors.ClientError, match="it takes no inputs"):
        sdk.coerce_inputs("t", {}, {"x": "1"})


def test_bundle_upload_uri_is_the_data_proxys_layout() -> None:
    assert sdk.bundle_upload_uri("s3://bucket/", "p", "d", "abc123", "fastdef.tar.gz") == "s3://bucket/uploads/p/d/abc123/fastdef.tar.gz"


def test_without_the_sdk_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flyte", None)  # makes `import flyte` raise ImportError
    with pytest.raises(errors.ClientError, match=re.escape("pip install flyte==2.12.1")):
        sdk.require_flyte()


# --- the task file ------------------------------------------------------------------------------------------------

TASKS = """
import flyte

env = flyte.TaskEnvironment(name="{env}")
not_a_task = 42


@env.task
async def first(x: int) -> int:
    return x


@env.task
async def second(y: str = "a") -> str:
    return y
"""


@pytest.fixture
def task_file(tmp_path: Path) -> Any:
    """A task file with a module name of its own; removed from sys.modules afterwards."""
    name = f"tasks_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(TASKS.format(env=name))
    yield path
    sys.modules.pop(name, None)
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def test_the_task_is_found_by_name(task_file: Path) -> None:
    module = sdk.load_task_module(task_file)
    assert module.__name__ == task_file.stem and sys.modules[task_file.stem] is module
    assert str(task_file.parent) in sys.path
    assert sdk.find_task(module, "first").native_interface.inputs == {"x": (int, EMPTY)}
    assert sdk.load_task_module(task_file) is module  # loaded once
    assert sdk.task_names(module) == ["first", "second"]


def test_a_missing_task_lists_the_tasks_of_the_file(task_file: Path) -> None:
    module = sdk.load_task_module(task_file)
    with pytest.raises(errors.ClientError, match=r"has no task 'third' \(its tasks: first, second\)"):
        sdk.find_task(module, "third")
    with pytest.raises(errors.ClientError, match=r"'not_a_task' in .* is not a Flyte task \(@env.task\) but of type int"):
        sdk.find_task(module, "not_a_task")


def test_a_file_that_fails_to_import(tmp_path: Path) -> None:
    path = tmp_path / f"broken_{uuid.uuid4().hex[:8]}.py"
    path.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(errors.ClientError, match="importing .* failed: RuntimeError: boom"):
        sdk.load_task_module(path)
    assert path.stem not in sys.modules
    with pytest.raises(errors.ClientError, match="does not exist"):
        sdk.load_task_module(tmp_path / "nowhere.py")


def test_a_file_named_like_a_loaded_module_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "json.py"
    path.write_text("x = 1\n")
    with pytest.raises(errors.ClientError, match="already 'json' from .*rename the file"):
        sdk.load_task_module(path)


def test_a_roots_cache_key_is_the_runs_services() -> None:
    """The expected key was printed by the runs service's own code (run_service.go's computeFilteredInputsHash and
    generateCacheKeyForTask of flyteorg/flyte v2.0.43, compiled with Go) for this template and these inputs."""
    from flyteidl2.core import interface_pb2, literals_pb2, types_pb2
    from flyteidl2.task import common_pb2

    from ..builders import task_template

    template = task_template(name="cached.square")
    template.metadata.discoverable, template.metadata.discovery_version = True, "v2"
    template.metadata.cache_ignore_input_vars.append("note")
    for key, simple in (("x", types_pb2.INTEGER), ("note", types_pb2.STRING)):
        template.interface.inputs.variables.add(key=key, value=interface_pb2.Variable(type=types_pb2.LiteralType(simple=simple)))
    template.interface.outputs.variables.add(key="o0", value=interface_pb2.Variable(type=types_pb2.LiteralType(simple=types_pb2.INTEGER)))

    def inputs(x: int, note: str) -> common_pb2.Inputs:
        literal = lambda **v: literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(**v)))  # noqa: E731
        made = common_pb2.Inputs(literals=[common_pb2.NamedLiteral(name="x", value=literal(integer=x)), common_pb2.NamedLiteral(name="note", value=literal(string_value=note))])
        made.context.add(key="k", value="v")  # not hashed
        return made

    assert sdk.cache_key(template, inputs(3, "hi")) == "PnEm2llU+UtqLoailqmfvN24G0KjFZMycvZh6hC7VLs="
    assert sdk.cache_key(template, inputs(3, "other")) == "PnEm2llU+UtqLoailqmfvN24G0KjFZMycvZh6hC7VLs="  # ignored
    assert sdk.cache_key(template, inputs(4, "hi")) != "PnEm2llU+UtqLoailqmfvN24G0KjFZMycvZh6hC7VLs="
    template.metadata.discoverable = False
    assert sdk.cache_key(template, inputs(3, "hi")) is None
