"""taskaction-bootstrap end to end on file:// bundles: digests, the SDK's fast<md5> names, DEST semantics, the
node cache (also under concurrency), exec of the command, and every failure's exit code and termination message."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskaction_operator.bundles import fetch
from taskaction_operator.bundles.bootstrap import MARKER
from taskaction_operator.bundles.digests import sdk_tree_md5
from taskaction_operator.bundles.errors import BY_CODE, parse_termination_message
from tests.support.seaweedfs import closed_port

from .archives import bootstrap, directory, file, md5_of, run_main, sha256_of, symlink, write_tar

FILES = [directory("pkg"), file("pkg/__init__.py", ""), file("pkg/hello.py", "def greet():\n    return 'hello'\n"), file("main.py", "import pkg.hello\n")]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    return write_tar(tmp_path / "src" / "bundle.tar.gz", FILES)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != MARKER}


def expect(code: int, message: str | None, name: str) -> str:
    parsed = parse_termination_message(message)
    assert parsed is not None, message
    assert parsed[0] is BY_CODE[name] and code == BY_CODE[name].exit_code, (code, message)
    return parsed[1]


# Digests


def test_sha256_and_md5_of_the_archive(tmp_path: Path, bundle: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for flag, value in (("--sha256", sha256_of(bundle)), ("--md5", md5_of(bundle)), ("--sha256", sha256_of(bundle).upper())):
        dest = tmp_path / f"dest{flag}{value[:4]}"
        code, message = run_main("--bundle", bundle.as_uri(), "--dest", dest, flag, value, log=log, monkeypatch=monkeypatch)
        assert code == 0, message
        assert tree(dest)["pkg/hello.py"].startswith(b"def greet")


def test_checksum_mismatch(tmp_path: Path, bundle: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = hashlib.sha256(b"other").hexdigest()
    dest = tmp_path / "dest"
    code, message = run_main("--bundle", bundle.as_uri(), "--dest", dest, "--sha256", wrong, log=log, monkeypatch=monkeypatch)
    text = expect(code, message, "BundleChecksumMismatch")
    assert wrong in text and sha256_of(bundle) in text
    assert not dest.exists() and sorted(os.listdir(tmp_path)) == ["src", "termination-log"]


def test_a_mismatch_wins_over_an_unsafe_archive(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not the archive that was expected: say so, rather than what is wrong inside it."""
    evil = write_tar(tmp_path / "evil.tar.gz", [file("ok"), file("../escape")])
    code, message = run_main("--bundle", evil.as_uri(), "--dest", tmp_path / "d", "--md5", "0" * 32, log=log, monkeypatch=monkeypatch)
    expect(code, message, "BundleChecksumMismatch")
    code, message = run_main("--bundle", evil.as_uri(), "--dest", tmp_path / "d", "--md5", md5_of(evil), log=log, monkeypatch=monkeypatch)
    expect(code, message, "BundleUnsafe")


def test_md5_from_the_sdk_name(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fast<md5>.tar.gz: the md5 of the files (the SDK's ls_files digest), not of the archive."""
    from flyte._code_bundle._utils import ls_relative_files

    source = tmp_path / "project"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "__init__.py").write_text("")
    (source / "pkg" / "hello.py").write_text("def greet():\n    return 'hello'\n")
    (source / "main.py").write_text("import pkg.hello\n")
    _, digest = ls_relative_files(["main.py", "pkg"], source)
    members = [file(str(p.relative_to(source)), p.read_bytes()) for p in sorted(source.rglob("*")) if p.is_file()]
    good = write_tar(tmp_path / f"fast{digest}.tar.gz", members)
    assert digest != md5_of(good)

    code, message = run_main("--bundle", good.as_uri(), "--dest", tmp_path / "ok", log=log, monkeypatch=monkeypatch)
    assert code == 0, message
    assert sdk_tree_md5(tmp_path / "ok", exclude=frozenset({MARKER})) == digest

    tampered = write_tar(tmp_path / f"fast{digest}.tar.gz", members[:-1] + [file(members[-1].name, b"tampered")])
    code, message = run_main("--bundle", tampered.as_uri(), "--dest", tmp_path / "bad", log=log, monkeypatch=monkeypatch)
    assert digest in expect(code, message, "BundleChecksumMismatch")
    assert not (tmp_path / "bad").exists()

    # An explicit digest takes precedence over the name.
    code, message = run_main("--bundle", tampered.as_uri(), "--dest", tmp_path / "explicit", "--sha256", sha256_of(tampered), log=log, monkeypatch=monkeypatch)
    assert code == 0, message


# DEST


def test_dest_absent_empty_or_already_done(tmp_path: Path, bundle: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absent = tmp_path / "a" / "b" / "dest"
    assert run_main("--bundle", bundle.as_uri(), "--dest", absent, log=log, monkeypatch=monkeypatch)[0] == 0
    empty = tmp_path / "mount"
    empty.mkdir()
    assert run_main("--bundle", bundle.as_uri(), "--dest", empty, log=log, monkeypatch=monkeypatch)[0] == 0
    assert tree(absent) == tree(empty) and (empty / MARKER).exists()
    assert not [n for n in os.listdir(empty) if n.startswith(".taskaction-staging")]
    # A restarted init container: same bundle, nothing to do.
    assert run_main("--bundle", bundle.as_uri(), "--dest", empty, log=log, monkeypatch=monkeypatch)[0] == 0
    # Another bundle into a filled DEST, or a DEST with other files: refused.
    other = write_tar(tmp_path / "other.tar.gz", [file("x")])
    expect(*run_main("--bundle", other.as_uri(), "--dest", empty, log=log, monkeypatch=monkeypatch), "BundleInvalidArguments")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine").write_text("keep")
    expect(*run_main("--bundle", bundle.as_uri(), "--dest", busy, log=log, monkeypatch=monkeypatch), "BundleInvalidArguments")
    assert os.listdir(busy) == ["mine"]


def test_failure_into_an_empty_mount_leaves_it_empty(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evil = write_tar(tmp_path / "evil.tar.gz", [file("a"), file("b"), symlink("c", "/etc/passwd")])
    mount = tmp_path / "mount"
    mount.mkdir()
    expect(*run_main("--bundle", evil.as_uri(), "--dest", mount, log=log, monkeypatch=monkeypatch), "BundleUnsafe")
    assert os.listdir(mount) == []


# The node cache


def test_cache_hit_does_not_download(tmp_path: Path, bundle: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[tuple[int, int]] = []
    original = fetch.Download._read

    async def counting(self, start, end, size):  # type: ignore[no-untyped-def]
        reads.append((start, end))
        return await original(self, start, end, size)

    monkeypatch.setattr(fetch.Download, "_read", counting)
    cache = tmp_path / "cache"
    digest = sha256_of(bundle)
    for i in range(3):
        code, message = run_main("--bundle", bundle.as_uri(), "--dest", tmp_path / f"d{i}", "--cache-dir", cache, "--sha256", digest, log=log, monkeypatch=monkeypatch)
        assert code == 0, message
    assert len(reads) == 1
    assert os.listdir(cache / ".locks") and (cache / "blobs" / f"sha256-{digest}").read_bytes() == bundle.read_bytes()
    assert tree(tmp_path / "d0") == tree(tmp_path / "d2")

    # Keyed by digest, a hit needs no storage at all: the object may even be gone.
    bundle.rename(bundle.with_suffix(".gone"))
    code, message = run_main("--bundle", bundle.as_uri(), "--dest", tmp_path / "d9", "--cache-dir", cache, "--sha256", digest, log=log, monkeypatch=monkeypatch)
    assert code == 0, message
    assert len(reads) == 1


def test_cache_without_digest_is_keyed_by_uri_and_version(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    path = write_tar(tmp_path / "bundle.tar.gz", [file("v", "1")])
    run = lambda dest: run_main("--bundle", path.as_uri(), "--dest", tmp_path / dest, "--cache-dir", cache, log=log, monkeypatch=monkeypatch)  # noqa: E731
    assert run("a")[0] == 0 and run("b")[0] == 0
    assert len([e for e in os.listdir(cache / "refs") if e.startswith("uri-")]) == 1
    write_tar(path, [file("v", "2 (a new version, a new key)")])
    assert run("c")[0] == 0
    assert (tmp_path / "c" / "v").read_text().startswith("2")
    assert len([e for e in os.listdir(cache / "refs") if e.startswith("uri-")]) == 2
    assert len(os.listdir(cache / "blobs")) == 2


def test_a_cached_archive_is_verified_again_on_every_use(tmp_path: Path, bundle: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoever could write the node's cache changed a blob: it no longer hashes to its name, so it is dropped and the
    bundle downloaded; the next pod finds the true one again."""
    cache = tmp_path / "cache"
    digest = sha256_of(bundle)
    run = lambda dest: run_main("--bundle", bundle.as_uri(), "--dest", tmp_path / dest, "--cache-dir", cache, "--sha256", digest, log=log, monkeypatch=monkeypatch)  # noqa: E731
    assert run("first")[0] == 0
    blob = cache / "blobs" / f"sha256-{digest}"
    write_tar(blob, [file("main.py", "print('planted')\n")])
    assert run("second")[0] == 0
    assert tree(tmp_path / "second") == tree(tmp_path / "first")
    assert blob.read_bytes() == bundle.read_bytes()


def test_a_ref_to_another_bundle_is_caught_by_the_pods_own_digest(tmp_path: Path, bundle: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ref is a pointer kept in the cache: the pod's --md5 is checked on the cached bytes too."""
    cache = tmp_path / "cache"
    other = write_tar(tmp_path / "other.tar.gz", [file("main.py", "print('other')\n")])
    for path, dest in ((bundle, "mine"), (other, "theirs")):
        assert run_main("--bundle", path.as_uri(), "--dest", tmp_path / dest, "--cache-dir", cache, "--md5", md5_of(path), log=log, monkeypatch=monkeypatch)[0] == 0
    (cache / "refs" / f"md5-{md5_of(bundle)}").write_text(sha256_of(other) + "\n")
    code, message = run_main("--bundle", bundle.as_uri(), "--dest", tmp_path / "again", "--cache-dir", cache, "--md5", md5_of(bundle), log=log, monkeypatch=monkeypatch)
    assert code == 0, message
    assert tree(tmp_path / "again") == tree(tmp_path / "mine")
    assert (cache / "refs" / f"md5-{md5_of(bundle)}").read_text().strip() == sha256_of(bundle)


def test_the_sdk_names_md5_never_finds_a_cached_bundle(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's file digest drops the paths' separators: `pkghello.py` digests as `pkg/hello.py` does. Another
    bundle under the same fast<md5> name (any URI) passes the name's check, but a pod of the true one never gets it
    from the cache: entries of such bundles are keyed by URI and version."""
    good_files = [file("main.py", "import pkg.hello\n"), file("pkg/hello.py", "def greet():\n    return 'hello'\n")]
    evil_files = [file("main.py", "import pkg.hello\n"), file("pkghello.py", "def greet():\n    return 'hello'\n")]
    (tmp_path / "ref").mkdir()
    reference = write_tar(tmp_path / "ref" / "b.tar.gz", good_files)
    assert run_main("--bundle", reference.as_uri(), "--dest", tmp_path / "digest", log=log, monkeypatch=monkeypatch)[0] == 0
    digest = sdk_tree_md5(tmp_path / "digest", exclude=frozenset({MARKER}))
    (tmp_path / "good").mkdir()
    (tmp_path / "evil").mkdir()
    good = write_tar(tmp_path / "good" / f"fast{digest}.tar.gz", good_files)
    evil = write_tar(tmp_path / "evil" / f"fast{digest}.tar.gz", evil_files)
    cache = tmp_path / "cache"

    code, message = run_main("--bundle", evil.as_uri(), "--dest", tmp_path / "by-evil", "--cache-dir", cache, log=log, monkeypatch=monkeypatch)
    assert code == 0, message  # the name's check alone cannot tell them apart
    code, message = run_main("--bundle", good.as_uri(), "--dest", tmp_path / "by-good", "--cache-dir", cache, log=log, monkeypatch=monkeypatch)
    assert code == 0, message
    assert sorted(tree(tmp_path / "by-good")) == ["main.py", "pkg/hello.py"]
    assert len(os.listdir(cache / "refs")) == 2


def test_unusable_cache_is_not_a_failure(tmp_path: Path, bundle: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    code, message = run_main("--bundle", bundle.as_uri(), "--dest", tmp_path / "d", "--cache-dir", blocked / "cache", log=log, monkeypatch=monkeypatch)
    assert code == 0, message


def test_concurrent_pods_share_one_cache(tmp_path: Path, log: Path) -> None:
    """Four processes, one node cache, the same bundle: one downloads, the others wait and copy; all trees equal."""
    big = write_tar(tmp_path / "big.tar.gz", [file(f"pkg/m{i}.py", os.urandom(200_000)) for i in range(40)], level=1)
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLYTE_AWS_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "taskaction_operator.bundles", "--bundle", big.as_uri(), "--dest", str(tmp_path / f"pod{i}"),
             "--cache-dir", str(cache), "--sha256", sha256_of(big), "--chunk-size", "256KiB", "--concurrency", "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    logs = [err for _, err in outputs]
    assert sum("from the cache" in err for err in logs) == 3, logs
    assert os.listdir(cache / "blobs") == [f"sha256-{sha256_of(big)}"] and os.listdir(cache / "refs") == []
    assert not [e for e in os.listdir(cache) if e.startswith(".tmp-")]
    trees = [tree(tmp_path / f"pod{i}") for i in range(4)]
    assert all(t == trees[0] for t in trees) and len(trees[0]) == 40


# exec, exit codes, termination messages (the real CLI in a subprocess)


def test_exec_runs_the_command_in_dest_with_the_env(tmp_path: Path, bundle: Path, log: Path) -> None:
    dest = tmp_path / "code"
    script = "import os, pkg.hello; print(os.getcwd()); print(os.environ['TASK_SETTING']); print(pkg.hello.greet()); print(os.getpid())"
    result = bootstrap("--bundle", bundle.as_uri(), "--dest", dest, "--", sys.executable, "-c", script, log=log, env={"TASK_SETTING": "on", "PYTHONPATH": "."})
    assert result.code == 0, result.stderr
    cwd, setting, greeting, _pid = result.stdout.split()
    assert (cwd, setting, greeting) == (str(dest), "on", "hello")
    assert result.message is None  # success writes no termination message
    # exec, not a child: the command's exit status is the container's.
    result = bootstrap("--bundle", bundle.as_uri(), "--dest", tmp_path / "again", "--", "sh", "-c", "exit 7", log=log)
    assert result.code == 7


def test_exec_a_program_from_the_bundle(tmp_path: Path, log: Path) -> None:
    bundle = write_tar(tmp_path / "b.tar.gz", [file("bin/run", "#!/bin/sh\necho from-bundle \"$@\"\n", mode=0o755)])
    result = bootstrap("--bundle", bundle.as_uri(), "--dest", tmp_path / "d", "--", "./bin/run", "a", "b", log=log)
    assert result.code == 0 and result.stdout.strip() == "from-bundle a b", result.stderr


def failure_cases(tmp_path: Path, bundle: Path) -> list[tuple[str, list[str | Path]]]:
    evil = write_tar(tmp_path / "evil.tar.gz", [file("../../x")])
    return [
        ("BundleNotFound", ["--bundle", (tmp_path / "missing.tar.gz").as_uri(), "--dest", tmp_path / "d1"]),
        ("BundleChecksumMismatch", ["--bundle", bundle.as_uri(), "--dest", tmp_path / "d2", "--md5", "0" * 32]),
        ("BundleUnsafe", ["--bundle", evil.as_uri(), "--dest", tmp_path / "d3"]),
        ("BundleCommandNotFound", ["--bundle", bundle.as_uri(), "--dest", tmp_path / "d4", "--", "no-such-command-xyz"]),
        ("BundleCommandNotFound", ["--bundle", bundle.as_uri(), "--dest", tmp_path / "d5", "--", "./main.py"]),  # not executable
        ("BundleDownloadFailed", ["--bundle", f"http://127.0.0.1:{closed_port()}/b.tar.gz", "--dest", tmp_path / "d6", "--retries", "3", "--retry-delay", "0.01"]),
        ("BundleInvalidArguments", ["--dest", tmp_path / "d7"]),
        ("BundleInvalidArguments", ["--bundle", bundle.as_uri(), "--dest", tmp_path / "d8", "--sha256", "xyz"]),
        ("BundleInvalidArguments", ["--bundle", "nosuchscheme://b/k.tar.gz", "--dest", tmp_path / "d9"]),
    ]


def test_every_failure_has_its_code_and_message(tmp_path: Path, bundle: Path) -> None:
    seen = set()
    for i, (name, args) in enumerate(failure_cases(tmp_path, bundle)):
        log = tmp_path / f"log{i}"
        result = bootstrap(*args, log=log)
        assert result.message is not None, (name, result.stderr)
        assert result.message.endswith("\n") and result.message.count("\n") == 1, result.message
        text = expect(result.code, result.message, name)
        assert text and result.message.strip() in result.stderr, (name, result.stderr)
        seen.add(name)
    assert len(seen) == 6  # BundleAccessDenied: tests/storage/test_bundles.py (wrong credentials)


def test_transient_errors_are_retried_then_reported(tmp_path: Path, log: Path) -> None:
    result = bootstrap("--bundle", f"http://127.0.0.1:{closed_port()}/b.tar.gz", "--dest", tmp_path / "d", "--retries", "3", "--retry-delay", "0.01", log=log)
    assert result.code == 20
    assert "gave up after 3 tries" in (result.message or ""), result.message
    assert result.stderr.count("again in") == 2, result.stderr


def test_unwritable_termination_log_is_ignored(tmp_path: Path, bundle: Path) -> None:
    result = bootstrap("--bundle", (tmp_path / "missing.tar.gz").as_uri(), "--dest", tmp_path / "d", log=tmp_path / "no" / "such" / "dir" / "log")
    assert result.code == 10 and "BundleNotFound: " in result.stderr


def test_no_secret_in_any_message(tmp_path: Path) -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    env = {"AWS_SECRET_ACCESS_KEY": secret, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "FLYTE_AWS_SECRET_ACCESS_KEY": secret}
    url = f"http://user:{secret}@127.0.0.1:{closed_port()}/b.tar.gz?X-Amz-Signature={secret}"
    result = bootstrap("--bundle", url, "--dest", tmp_path / "d", "--retries", "2", "--retry-delay", "0.01", log=tmp_path / "log", env=env)
    assert result.code == 20
    for text in (result.stderr, result.stdout, result.message or ""):
        assert secret not in text


def test_help_and_module_entry_point(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "taskaction_operator.bundles", "--help"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0 and "--bundle URI --dest DIR" in proc.stdout
