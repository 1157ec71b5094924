"""Output paths, computed exactly as the Flyte executor and actions service do (ComputeActionOutputPath)."""

from __future__ import annotations

import string
from urllib.parse import urlsplit, urlunsplit

_ALPHABET = string.ascii_lowercase + string.digits
# flyteplugins ioutils/precomputed_shardselector.go: every 2-character string over a-z then 0-9.
SHARD_PREFIXES = [a + b for a in _ALPHABET for b in _ALPHABET]

INPUTS_FILE = "inputs.pb"
CHECKPOINT_DIR = "_flytecheckpoints"


def fnv1a_32(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def shard(namespace: str, name: str) -> str:
    return SHARD_PREFIXES[fnv1a_32(f"{namespace}/{name}".encode()) % len(SHARD_PREFIXES)]


def action_output_prefix(namespace: str, name: str, run_output_base: str, action_name: str, attempt: int) -> str:
    """`<scheme>://<bucket>/<shard>/<base path>/<action>/<attempt>`; attempt is 1-based (0 counts as 1)."""
    parts = urlsplit(run_output_base)
    if not parts.scheme:
        raise ValueError(f"runOutputBase {run_output_base!r} is not a URL with a scheme")
    segments = [shard(namespace, name)]
    rest = parts.path.strip("/")
    if rest:
        segments.append(rest)
    segments += [action_name, str(max(attempt, 1))]
    return urlunsplit((parts.scheme, parts.netloc, "/" + "/".join(segments), "", ""))


def input_prefix(input_uri: str) -> str:
    """The executor accepts both `<prefix>` and `<prefix>/inputs.pb`."""
    return input_uri.removesuffix("/" + INPUTS_FILE)


def inputs_file(input_uri: str) -> str:
    """The inputs.pb of an action whose spec.inputUri is the prefix or the file itself."""
    return f"{input_prefix(input_uri)}/{INPUTS_FILE}"


def checkpoint_prefix(output_prefix: str) -> str:
    return f"{output_prefix}/{CHECKPOINT_DIR}"
