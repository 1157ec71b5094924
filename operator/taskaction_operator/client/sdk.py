"""Run a Flyte SDK task file with no Flyte backend: `taskaction submit -f pipeline.py --task pipeline -i x=5`.

What `flyte run` and the control plane would do for an ephemeral deploy + run (docs/upstream-contract.md,
"The SDK's TaskTemplate and code bundle"), done offline by the SDK itself:

1. the file is imported as a module named after it; its directory is the bundle root and goes on sys.path;
2. the command-line inputs are read as the task's declared types and encoded by the SDK (before any upload);
3. the code bundle `fast<md5>.tar.gz` is built offline (dryrun) and uploaded where the data proxy would put it,
   `<storage>/uploads/<project>/<domain>/<version>/<file>`; the version is the md5 of the archive;
4. the SDK serializes the TaskTemplate with a CodeBundle pointing at that upload (`--tgz`, `code_bundle_uri`);
5. `inputs.pb` goes under the root's `inputUri`, where the operator's pod reads it (`--inputs`);
6. the caller creates the returned root TaskAction `<run>-a0` (`runs.submit`).

`flyte` is an optional dependency (`pip install flyte==2.12.1`, or the `sdk` extra): it is imported only in here,
inside functions. Storage credentials come from Settings / the environment (storage.filesystems), never printed.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import importlib.util
import inspect
import json
import secrets
import string
import sys
import tempfile
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from flyteidl2.core import tasks_pb2
from flyteidl2.task import common_pb2

from ..api import constants as c
from ..settings import Settings
from ..storage import paths
from ..storage.filesystems import secrets_of
from ..storage.objects import put_file, write_object
from ..storage.outputs import one_line
from . import errors, manifests, names

SDK_REQUIREMENT = "flyte==2.12.1"
COPY_STYLES = ("loaded_modules", "all")
RUN_NAME_ALPHABET = string.ascii_lowercase + string.digits
RUN_NAME_RANDOM_CHARS = 19  # the run service's "r" + rand.String(19): 20 characters
BOOLEAN_WORDS = {"true": True, "yes": True, "y": True, "1": True, "false": False, "no": False, "n": False, "0": False}


class PreparedRun(NamedTuple):
    body: dict[str, Any]  # the root TaskAction, ready for runs.submit
    template: tasks_pb2.TaskTemplate
    bundle_uri: str
    version: str
    inputs_uri: str


def is_sdk_file(filename: str | None) -> bool:
    return bool(filename) and filename != "-" and filename.endswith(".py")


def new_run_name() -> str:
    return "r" + "".join(secrets.choice(RUN_NAME_ALPHABET) for _ in range(RUN_NAME_RANDOM_CHARS))


def failure(what: str, exc: BaseException, secret_values: tuple[str, ...] = ()) -> errors.ClientError:
    """One line for the CLI's stderr, whatever the user's code, the SDK or the storage raised."""
    return errors.ClientError(one_line(f"{what} failed: {type(exc).__name__}: {exc}", secret_values))


def require_flyte() -> types.ModuleType:
    try:
        import flyte
    except ImportError as exc:
        raise errors.ClientError(
            f"submitting a Flyte SDK task file needs the Flyte SDK: pip install {SDK_REQUIREMENT} "
            "(or the sdk extra: pip install 'taskaction-operator[sdk]')"
        ) from exc
    return flyte


# --- the task file ------------------------------------------------------------------------------------------------


def load_task_module(file: Path) -> types.ModuleType:
    """Import `file` as the module `<stem>` with its directory first on sys.path, as the task's pod will (its
    resolver imports `mod <stem>` from the extracted bundle)."""
    file = file.resolve()
    if not file.is_file():
        raise errors.ClientError(f"{file} does not exist")
    name = file.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == file:
            return loaded
        raise errors.ClientError(
            f"{file} would be imported as the module {name!r}, which is already {loaded.__name__!r} from "
            f"{getattr(loaded, '__file__', None) or 'a built-in'}: rename the file"
        )
    if str(file.parent) not in sys.path:
        sys.path.insert(0, str(file.parent))
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise errors.ClientError(f"{file} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: report it as one line, whatever it raised
        del sys.modules[name]
        raise failure(f"importing {file}", exc) from exc
    return module


def task_names(module: types.ModuleType) -> list[str]:
    from flyte._task import TaskTemplate

    return sorted(attr for attr, value in vars(module).items() if isinstance(value, TaskTemplate))


def find_task(module: types.ModuleType, task: str) -> Any:
    from flyte._task import TaskTemplate

    obj = getattr(module, task, None)
    if obj is None:
        available = ", ".join(task_names(module)) or "none"
        raise errors.ClientError(f"{module.__file__} has no task {task!r} (its tasks: {available})")
    if not isinstance(obj, TaskTemplate):
        raise errors.ClientError(f"{task!r} in {module.__file__} is not a Flyte task (@env.task) but of type {type(obj).__name__}")
    return obj


# --- inputs -------------------------------------------------------------------------------------------------------


def raw_value(text: str) -> Any:
    """JSON when it parses (5, 2.5, true, [1, 2], {"a": 1}, null), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def type_name(declared: Any) -> str:
    if isinstance(declared, type) and typing.get_origin(declared) is None:
        return declared.__name__
    return str(declared).replace("typing.", "")


def optional_inner(declared: Any) -> Any | None:
    """`T` of `T | None` / `Optional[T]`; None when `declared` is not optional of exactly one type."""
    if typing.get_origin(declared) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(declared)
    others = [arg for arg in args if arg is not type(None)]
    return others[0] if len(others) == 1 and len(args) == 2 else None


def coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and str(value).strip().lower() in BOOLEAN_WORDS:
        return BOOLEAN_WORDS[str(value).strip().lower()]
    raise ValueError("not a boolean (true/false)")


def coerce_int(value: Any) -> int:
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("not an integer")
    return int(value)  # an int, or a str with an integer in it


def coerce_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("not a number")
    return float(value)


def coerce_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


_SCALARS = {bool: coerce_bool, int: coerce_int, float: coerce_float, str: coerce_str}


def coerce_value(value: Any, declared: Any) -> Any:
    """`value` (from raw_value) as `declared`: bool, int, float, str, optionals, lists and dicts of them. Other
    types (dataclasses, models, files...) are left to the SDK's type engine, which refuses what it cannot convert."""
    inner = optional_inner(declared)
    if inner is not None:
        return None if value is None else coerce_value(value, inner)
    if declared in _SCALARS:
        return _SCALARS[declared](value)
    origin, args = typing.get_origin(declared), typing.get_args(declared)
    if origin is list and len(args) == 1:
        if not isinstance(value, list):
            raise ValueError("not a JSON list")
        return [coerce_value(item, args[0]) for item in value]
    if origin is dict and len(args) == 2:
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return {coerce_value(k, args[0]): coerce_value(v, args[1]) for k, v in value.items()}
    return value


def coerce_input(name: str, text: str, declared: Any) -> Any:
    # A str input takes the text as typed: through JSON, '1e3' would become 1000.0 and 'true' a bool.
    if declared is str:
        return text
    try:
        return coerce_value(raw_value(text), declared)
    except (TypeError, ValueError) as exc:
        raise errors.ClientError(f"input {name!r} expects {type_name(declared)}, got {text!r}: {exc}") from exc


def describe_inputs(declared: Mapping[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{name}: {type_name(kind)}" for name, (kind, _) in declared.items()) or "no inputs"


def coerce_inputs(task_name: str, declared: Mapping[str, tuple[Any, Any]], raw: Mapping[str, str]) -> dict[str, Any]:
    """The command line's `-i NAME=VALUE` pairs as the task's declared types (`native_interface.inputs`: name ->
    (type, default)). Unknown or missing required inputs, and values that do not convert, are errors naming them."""
    unknown = [name for name in raw if name not in declared]
    if unknown:
        raise errors.ClientError(
            f"task {task_name!r} has no input {', '.join(map(repr, unknown))}; it takes {describe_inputs(declared)}"
        )
    missing = [name for name, (_, default) in declared.items() if default is inspect.Parameter.empty and name not in raw]
    if missing:
        flags = " ".join(f"-i {name}=VALUE" for name in missing)
        noun = "input" if len(missing) == 1 else "inputs"
        raise errors.ClientError(f"task {task_name!r} needs the {noun} {', '.join(map(repr, missing))} ({flags})")
    return {name: coerce_input(name, text, declared[name][0]) for name, text in raw.items()}


async def encode_inputs(task_obj: Any, values: Mapping[str, Any]) -> common_pb2.Inputs:
    """inputs.pb as the SDK writes it (defaults filled in by the SDK)."""
    from flyte._internal.runtime.convert import convert_from_native_to_inputs

    try:
        inputs = await convert_from_native_to_inputs(task_obj.native_interface, **values)
    except Exception as exc:  # the SDK's type engine: TypeTransformerFailedError, ValueError, TypeError...
        raise failure(f"converting the inputs of task {task_obj.name!r}", exc) from exc
    return inputs.proto_inputs


# --- code bundle and template -------------------------------------------------------------------------------------


async def build_bundle(root: Path, workdir: Path, copy_style: str) -> Any:
    """`fast<md5>.tar.gz` of `root` in `workdir`, offline; a flyte.models.CodeBundle with the local path."""
    from flyte._code_bundle import build_code_bundle

    try:
        return await build_code_bundle(from_dir=root, dryrun=True, copy_bundle_to=workdir, copy_style=copy_style)
    except Exception as exc:  # CodeBundleError, or the ignore files / tar failing
        raise failure(f"building the code bundle of {root}", exc) from exc


def bundle_upload_uri(storage: str, project: str, domain: str, version: str, filename: str) -> str:
    """Where the data proxy puts an upload: uploads/<project>/<domain>/<digest>/<filename>."""
    return f"{storage.rstrip('/')}/uploads/{project}/{domain}/{version}/{filename}"


async def upload_file(local: Path, uri: str, settings: Settings) -> None:
    try:
        await put_file(local, uri, settings)
    except Exception as exc:  # obstore, fsspec and OS errors alike: one line, secrets scrubbed
        raise failure(f"uploading the code bundle to {uri}", exc, secrets_of(settings)) from exc


async def write_inputs_file(input_uri: str, inputs: common_pb2.Inputs, settings: Settings) -> str:
    """Writes the file the operator gives the pod as `--inputs`."""
    uri = paths.inputs_file(input_uri)
    try:
        await write_object(uri, inputs.SerializeToString(), settings)
    except Exception as exc:  # as upload_file
        raise failure(f"writing {uri}", exc, secrets_of(settings)) from exc
    return uri


def serialize(task_obj: Any, bundle: Any, bundle_uri: str, *, project: str, domain: str, root: Path) -> tasks_pb2.TaskTemplate:
    from flyte._internal.runtime.task_serde import translate_task_to_wire
    from flyte.models import SerializationContext

    context = SerializationContext(
        project=project,
        domain=domain,
        org="local",
        version=bundle.computed_version,
        code_bundle=dataclasses.replace(bundle, tgz=bundle_uri),
        root_dir=root,
    )
    try:
        return translate_task_to_wire(task_obj, context).task_template
    except Exception as exc:  # the SDK refuses the task (e.g. a pod template without the kubernetes package)
        raise failure(f"serializing task {task_obj.name!r}", exc) from exc


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def cache_key(template: tasks_pb2.TaskTemplate, inputs: common_pb2.Inputs) -> str | None:
    """spec.cacheKey of a root whose inputs.pb the client writes, as the runs service computes it for inputs sent
    inline (run_service.go CreateRun: computeFilteredInputsHash, generateCacheKeyForTask): sha256 over the hash of the
    inputs but the ignored ones, the task's name, the hash of its interface and its cache version; None when the task
    does not cache."""
    metadata = template.metadata
    if not metadata.discoverable:
        return None
    kept = common_pb2.Inputs(literals=[named for named in inputs.literals if named.name not in metadata.cache_ignore_input_vars])
    interface = _sha256_b64(template.interface.SerializeToString(deterministic=True)) if template.HasField("interface") else ""
    data = f"{_sha256_b64(kept.SerializeToString(deterministic=True))}{template.id.name}{interface}{metadata.discovery_version}"
    return _sha256_b64(data.encode())


# --- all together -------------------------------------------------------------------------------------------------


async def prepare_sdk_run(
    file: Path,
    task: str,
    raw_inputs: Mapping[str, str],
    *,
    run: str,
    namespace: str,
    project: str,
    domain: str,
    storage: str,
    settings: Settings,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    env_vars: dict[str, str] | None = None,
    copy_style: str = "loaded_modules",
) -> PreparedRun:
    """Upload the code bundle and inputs.pb of task `task` in `file`; the root TaskAction to create is `.body`.
    Everything that can be refused (names, the file, the task, the inputs, serialization) is checked before the
    first upload."""
    require_flyte()
    names.validate_names(run=run, action=c.ROOT_ACTION_NAME, project=project, domain=domain, namespace=namespace)
    if copy_style not in COPY_STYLES:
        raise errors.ClientError(f"copy style {copy_style!r} is not one of {', '.join(COPY_STYLES)}")
    file = Path(file).resolve()
    root = file.parent
    # The user's module may import heavy libraries at import time: off the event loop.
    module = await asyncio.to_thread(load_task_module, file)
    task_obj = find_task(module, task)
    inputs = await encode_inputs(task_obj, coerce_inputs(task, task_obj.native_interface.inputs, raw_inputs))
    with tempfile.TemporaryDirectory(prefix="taskaction-bundle-") as workdir:
        bundle = await build_bundle(root, Path(workdir), copy_style)
        local = Path(bundle.tgz)
        bundle_uri = bundle_upload_uri(storage, project, domain, bundle.computed_version, local.name)
        template = serialize(task_obj, bundle, bundle_uri, project=project, domain=domain, root=root)
        body = manifests.root_body(
            template, run=run, namespace=namespace, project=project, domain=domain, storage=storage,
            labels=labels, annotations=annotations, env_vars=env_vars,
        )
        key = cache_key(template, inputs)
        if key is not None:
            body["spec"]["cacheKey"] = key
        await upload_file(local, bundle_uri, settings)
    inputs_uri = await write_inputs_file(body["spec"]["inputUri"], inputs, settings)
    return PreparedRun(body, template, bundle_uri, bundle.computed_version, inputs_uri)
