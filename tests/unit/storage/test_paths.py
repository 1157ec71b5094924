"""ComputeActionOutputPath and its FNV-1a shard (docs/upstream-contract.md, "Output paths").

The Actions service (Go) computes the same path, so the values must match byte for byte.
"""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskaction_operator.storage import paths

from ..builders import NAMESPACE, ROOT_NAME, ROOT_OUTPUT_1, RUN_BASE


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # The published FNV-1a 32-bit test vectors (Fowler/Noll/Vo reference test suite, also Go's hash/fnv tests).
        (b"", 0x811C9DC5),
        (b"a", 0xE40C292C),
        (b"foobar", 0xBF9CF968),
    ],
)
def test_fnv1a_32_published_vectors(data: bytes, expected: int) -> None:
    assert paths.fnv1a_32(data) == expected


def test_shard_alphabet_is_letters_then_digits() -> None:
    prefixes = paths.SHARD_PREFIXES
    assert len(prefixes) == 36 * 36 == 1296
    assert prefixes[0] == "aa"
    assert prefixes[1] == "ab"
    assert prefixes[25] == "az"
    assert prefixes[26] == "a0"  # `a0` comes after `az`
    assert prefixes[35] == "a9"
    assert prefixes[36] == "ba"
    assert prefixes[-1] == "99"
    assert len(set(prefixes)) == 1296


def test_shard_is_the_fnv_of_namespace_slash_name_mod_1296() -> None:
    index = paths.fnv1a_32(b"flyte/rabc123-a0") % 1296
    assert paths.shard(NAMESPACE, ROOT_NAME) == paths.SHARD_PREFIXES[index] == "oc"


def test_reference_example() -> None:
    """The example of docs/upstream-contract.md, "Output paths": ns flyte, CR rabc123-a0, attempt 1."""
    got = paths.action_output_prefix(NAMESPACE, ROOT_NAME, RUN_BASE, "a0", 1)
    assert got == ROOT_OUTPUT_1 == "s3://flyte-data/oc/flytesnacks/development/rabc123/a0/1"


def test_trailing_slash_makes_no_difference() -> None:
    with_slash = paths.action_output_prefix(NAMESPACE, ROOT_NAME, RUN_BASE, "a0", 1)
    without = paths.action_output_prefix(NAMESPACE, ROOT_NAME, RUN_BASE.rstrip("/"), "a0", 1)
    assert with_slash == without


def test_attempt_zero_counts_as_one() -> None:
    assert paths.action_output_prefix(NAMESPACE, ROOT_NAME, RUN_BASE, "a0", 0) == ROOT_OUTPUT_1


def test_attempts_differ_but_share_the_shard() -> None:
    first = paths.action_output_prefix(NAMESPACE, ROOT_NAME, RUN_BASE, "a0", 1)
    second = paths.action_output_prefix(NAMESPACE, ROOT_NAME, RUN_BASE, "a0", 2)
    assert first != second
    assert second == "s3://flyte-data/oc/flytesnacks/development/rabc123/a0/2"
    assert first.split("/")[3] == second.split("/")[3] == "oc"


def test_file_base_puts_the_shard_right_after_the_scheme() -> None:
    got = paths.action_output_prefix("ns", "run-a0", "file:///tmp/x/", "a0", 1)
    shard = paths.shard("ns", "run-a0")
    assert got == f"file:///{shard}/tmp/x/a0/1"


def test_bucket_only_base() -> None:
    got = paths.action_output_prefix(NAMESPACE, ROOT_NAME, "s3://bucket", "a0", 3)
    assert got == "s3://bucket/oc/a0/3"


def test_base_without_scheme_is_an_error() -> None:
    with pytest.raises(ValueError, match="runOutputBase"):
        paths.action_output_prefix(NAMESPACE, ROOT_NAME, "/tmp/output", "a0", 1)


def test_shards_are_distributed() -> None:
    shards = {paths.shard("flyte", f"r{i:05d}-a0") for i in range(1000)}
    # 1000 draws over 1296 buckets give ~700 distinct ones when the hash spreads well.
    assert len(shards) > 500


def test_input_prefix_and_checkpoints() -> None:
    assert paths.input_prefix("s3://b/run/a0/inputs.pb") == "s3://b/run/a0"
    assert paths.input_prefix("s3://b/run/a0") == "s3://b/run/a0"
    assert paths.checkpoint_prefix(ROOT_OUTPUT_1) == ROOT_OUTPUT_1 + "/_flytecheckpoints"


@pytest.mark.parametrize("input_uri", ["s3://b/p/d/r/inputs", "s3://b/p/d/r/inputs/inputs.pb"])
def test_inputs_file_of_a_root_prefix_or_a_childs_file(input_uri: str) -> None:
    assert paths.inputs_file(input_uri) == "s3://b/p/d/r/inputs/inputs.pb"


_names = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=50)


@given(namespace=_names, name=_names)
def test_shard_is_always_two_chars_of_the_alphabet(namespace: str, name: str) -> None:
    shard = paths.shard(namespace, name)
    assert re.fullmatch(r"[a-z0-9]{2}", shard)
    assert shard == paths.shard(namespace, name)


@given(namespace=st.text(max_size=80), name=st.text(max_size=80))
def test_shard_is_deterministic_for_any_text(namespace: str, name: str) -> None:
    assert paths.shard(namespace, name) == paths.shard(namespace, name)
    assert paths.shard(namespace, name) in paths.SHARD_PREFIXES


@given(name=_names, action=st.from_regex(r"[a-z0-9]{1,25}", fullmatch=True), attempt=st.integers(0, 50))
def test_output_prefix_shape(name: str, action: str, attempt: int) -> None:
    got = paths.action_output_prefix("flyte", name, "s3://bucket/base/path/", action, attempt)
    parts = got.split("/")
    assert parts[:3] == ["s3:", "", "bucket"]
    assert parts[3] == paths.shard("flyte", name)
    assert parts[4:6] == ["base", "path"]
    assert parts[-2] == action
    assert parts[-1] == str(max(attempt, 1))
