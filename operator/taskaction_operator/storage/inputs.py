"""Read an action's inputs.pb (flyteidl2.task.Inputs), for the `{{.Inputs.x}}` variables of a raw container."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from flyteidl2.core import literals_pb2
from flyteidl2.task import common_pb2
from google.protobuf.message import DecodeError

from .filesystems import StorageSettings, secrets_of
from .objects import read_object
from .outputs import TIMEOUT_SECONDS, one_line


@dataclass(frozen=True)
class InputsLookup:
    literals: dict[str, literals_pb2.Literal] | None = None
    error: str | None = None  # why inputs.pb could not be read: one line, no credentials


async def read_inputs(uri: str, settings: StorageSettings) -> InputsLookup:
    try:
        data = await asyncio.wait_for(read_object(uri, settings), TIMEOUT_SECONDS)
        inputs = common_pb2.Inputs.FromString(data)
    except FileNotFoundError:
        return InputsLookup(error=f"inputs not found at {uri}")
    except (DecodeError, asyncio.TimeoutError, OSError, ValueError) as exc:
        return InputsLookup(error=one_line(f"reading {uri}: {type(exc).__name__}: {exc}", secrets_of(settings)))
    return InputsLookup(literals={named.name: named.value for named in inputs.literals})
