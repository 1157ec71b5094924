"""taskaction-bootstrap on the Flyte SDK's own `.tar.gz`, against the ceiling of any gunzip of it and against the
SDK's own download and extract of the same object, side by side in one run (issue 16's bundle goals).

    .venv/bin/python e2e/bench/bundles.py [--mb 100] [--small-mb 1] [--rounds 5]

Makes a tree of --mb MB of compressible text (random words and hex), packs it with the SDK's own code
(`flyte._code_bundle._packaging.create_bundle`: a tar gzipped as the SDK does it, named `fast<md5>.tar.gz`; about
1.9:1) and the same for a --small-mb tree, uploads both to a SeaweedFS it starts on 127.0.0.1
(tests/support/seaweedfs.py), then, per round and in turn, times:
- inflate-isal: the big archive inflated from memory in one thread by python-isal, output discarded (no download,
  no tar, no writes): the ceiling of any gunzip of it, since a gzip stream inflates sequentially;
- bootstrap:    `bundles.bootstrap.run` as the operator's init container runs it (`--bundle URI --dest DIR`): a new
                storage client, ranged reads, gunzip, tar checks, writes, and the verify the SDK's name asks for (the
                md5 of the unpacked files), then the rename into place;
- bootstrap-sha256: the same with `--sha256` (the archive's digest, checked while streaming);
- sdk:          the SDK's own fast-registration download and extract of the same object
                (`flyte._code_bundle.bundle.download_bundle`: flyte.storage.get into a file, then `tar -xvf`);
- small, small-sdk: bootstrap and SDK of the small bundle;
- small-cli:    the small bundle by `python -m taskaction_operator.bundles` in a new process, as an init container
                runs it: interpreter start and imports included (not a goal: what a pod waits for).
Every bootstrap and SDK round starts from a new storage client, as a new pod does.
- setup:        bootstrap of a one-file bundle: what every bootstrap pays before its first byte.
A round times the path's work alone: its checks and the removal of what it unpacked come after the clock stops.
Prints each path's seconds per round, medians, its CPU seconds (this process, every thread; and SeaweedFS's), the
three goals with their ratios and which way is better, the best ratio to inflate-isal the machine's cores allow each
bootstrap path (its CPU spread over every core, or the inflate alone, whichever is longer: goal 1 is out of reach
where that is below 0.9), the load average before and after, and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import io
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import fsspec
import psutil
from flyte._code_bundle._packaging import create_bundle, list_files_to_bundle
from flyte._code_bundle.bundle import download_bundle
from flyte.models import CodeBundle
from isal import igzip

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "operator"))

from machine_cpu import cpu_seconds  # noqa: E402  (e2e/bench, this script's directory)
from taskaction_operator.bundles.bootstrap import Options, run  # noqa: E402
from taskaction_operator.bundles.inflate import INFLATE_BLOCK  # noqa: E402
from tests.support.seaweedfs import running_seaweedfs  # noqa: E402

MB = 1_000_000
# The goals (issue 16): bootstrap >= 0.9 of inflate-isal's throughput on the big bundle; the small one ready within
# 0.3 s, client setup included; never slower than the SDK on the same object.
GOAL_OF_INFLATE = 0.9
GOAL_SMALL_SECONDS = 0.3


def make_tree(root: Path, total: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz_", k=rng.randint(3, 10))) for _ in range(4000)]
    written = index = 0
    while written < total:
        size = min(total - written, rng.randint(20_000, 3_000_000))
        lines, n = [], 0
        while n < size:
            line = " ".join(rng.choices(words, k=10)) + " " + rng.randbytes(8).hex() + "\n"
            lines.append(line)
            n += len(line)
        data = "".join(lines).encode()[:size]
        directory = root / f"pkg{index % 12}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"mod{index}.py").write_bytes(data)
        written += len(data)
        index += 1
    return written


def sdk_archive(root: Path, out_dir: Path) -> Path:
    """The tree packed by the SDK's own code: `fast<md5 of the files>.tar.gz`."""
    files, digest = list_files_to_bundle(root)
    archive, _, _ = create_bundle(root, out_dir, files, digest)
    return archive


def make_tiny_archive() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        tar.addfile(tarfile.TarInfo("empty.py"))
    return out.getvalue()


def inflater(data: bytes) -> Callable[[], None]:
    """Inflate `data` with isal.igzip in one thread, in blocks of the size the bootstrap uses, keeping nothing."""

    def inflate() -> None:
        with igzip.open(io.BytesIO(data)) as stream:
            while stream.read(INFLATE_BLOCK):
                pass

    return inflate


@dataclass(frozen=True)
class Round:
    seconds: float
    client_cpu: float  # this process, every thread (the bootstrap's, obstore's, the SDK's), and its children
    server_cpu: float  # SeaweedFS, serving the same bytes on the same cores


def timed(fn: Callable[[], Callable[[], None] | None], server: psutil.Process) -> Round:
    """One round of a path: `fn` is timed, what it returns (checks and clean-up: not the path's work) is run after."""
    gc.collect()  # earlier rounds' garbage (each bootstrap's storage client) would cost a full collection in this one
    client0, server0 = own_cpu_seconds(), server_cpu_seconds(server)
    start = time.perf_counter()
    after = fn()
    seconds = time.perf_counter() - start
    client1, server1 = own_cpu_seconds(), server_cpu_seconds(server)
    if after is not None:
        after()
    return Round(seconds, client1 - client0, server1 - server0)


def server_cpu_seconds(server: psutil.Process) -> float:
    return cpu_seconds((server, *server.children(recursive=True)))


def own_cpu_seconds() -> float:
    """This process's CPU and its finished children's (the SDK's `tar`, the CLI's interpreter)."""
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100, help="MB of content in the big bundle")
    parser.add_argument("--small-mb", type=float, default=1, help="MB of content in the small bundle")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bundle-bench-"))
    try:
        content = make_tree(work / "big", args.mb * MB)
        small_content = make_tree(work / "small", int(args.small_mb * MB), seed=8)
        (work / "out").mkdir()
        big = sdk_archive(work / "big", work / "out")
        small = sdk_archive(work / "small", work / "out")
        data = big.read_bytes()
        size = len(data)
        print(f"big bundle: {content / MB:.1f} MB of content, {big.name}: {size / MB:.1f} MB", flush=True)
        print(f"small bundle: {small_content / MB:.2f} MB of content, {small.name}: {small.stat().st_size / MB:.2f} MB", flush=True)

        with running_seaweedfs(work / "seaweedfs") as server:
            fs = server.s3fs()
            uri, small_uri, tiny_uri = (server.url(f"bench/{name}") for name in (big.name, small.name, "setup.tar.gz"))
            fs.pipe_file(uri, data)
            fs.pipe_file(small_uri, small.read_bytes())
            tiny = make_tiny_archive()
            fs.pipe_file(tiny_uri, tiny)
            os.environ.update(server.flyte_env())  # both the bootstrap and flyte.storage read FLYTE_AWS_*
            gc.collect()  # the server's readiness-probe client, before an event loop runs in another thread
            counter = iter(range(10**6))

            # Each path returns its checks and clean-up, which are not timed: the goal is fetch, verify, unpack.
            def bootstrap(bundle: str, expected: int, sha256: str | None = None) -> Callable[[], Callable[[], None]]:
                def go() -> Callable[[], None]:
                    dest = work / f"dest{next(counter)}"
                    outcome = run(Options(bundle=bundle, dest=dest, sha256=sha256))

                    def after() -> None:
                        assert outcome.content_bytes == expected, outcome
                        shutil.rmtree(dest)

                    return after

                return go

            def sdk(bundle: str, expected: int) -> Callable[[], Callable[[], None]]:
                def go() -> Callable[[], None]:
                    # A new client, as in a new pod: flyte.storage keeps its fsspec filesystem (and its obstore
                    # stores, with their open connections) for the life of the process.
                    fsspec.get_filesystem_class("s3").clear_instance_cache()
                    dest = work / f"sdk{next(counter)}"
                    asyncio.run(download_bundle(CodeBundle(tgz=bundle, destination=str(dest), computed_version="bench")))

                    def after() -> None:
                        unpacked = sum(p.stat().st_size for p in dest.rglob("*.py"))
                        assert unpacked == expected, (unpacked, expected)
                        shutil.rmtree(dest)

                    return after

                return go

            def cli(bundle: str) -> Callable[[], Callable[[], None]]:
                def go() -> Callable[[], None]:
                    dest = work / f"cli{next(counter)}"
                    env = {**os.environ, "PYTHONPATH": str(REPO / "operator")}
                    command = [sys.executable, "-m", "taskaction_operator.bundles", "--bundle", bundle, "--dest", str(dest)]
                    subprocess.run(command, env=env, check=True, capture_output=True)
                    return lambda: shutil.rmtree(dest)

                return go

            paths: dict[str, Callable[[], Callable[[], None] | None]] = {
                "inflate-isal": inflater(data),
                "bootstrap": bootstrap(uri, content),
                "bootstrap-sha256": bootstrap(uri, content, hashlib.sha256(data).hexdigest()),
                "sdk": sdk(uri, content),
                "small": bootstrap(small_uri, small_content),
                "small-sdk": sdk(small_uri, small_content),
                "small-cli": cli(small_uri),
                "setup": bootstrap(tiny_uri, 0, hashlib.sha256(tiny).hexdigest()),
            }
            weed = psutil.Process(server.process.pid)
            load_before = load()
            for fn in paths.values():  # warm the server's caches and this process's imports
                timed(fn, weed)
            rounds: dict[str, list[Round]] = {name: [] for name in paths}
            for _ in range(args.rounds):
                for name, fn in paths.items():
                    rounds[name].append(timed(fn, weed))
            load_after = load()

        median = {name: statistics.median(r.seconds for r in runs) for name, runs in rounds.items()}
        client_cpu = {name: statistics.median(r.client_cpu for r in runs) for name, runs in rounds.items()}
        server_cpu = {name: statistics.median(r.server_cpu for r in runs) for name, runs in rounds.items()}
        cores = os.cpu_count() or 1
        print(f"load average (1/5/15 min) before {load_before}, after {load_after}; {cores} cpus")
        print(f"{'path':<17} {'median s':>9} {'MB/s (archive)':>15} {'CPU-s client':>13} {'CPU-s server':>13}  seconds per round")
        for name, runs in rounds.items():
            rate = f"{size / MB / median[name]:>15.1f}" if name in ("inflate-isal", "bootstrap", "bootstrap-sha256", "sdk") else f"{'':>15}"
            print(f"{name:<17} {median[name]:>9.3f} {rate} {client_cpu[name]:>13.3f} {server_cpu[name]:>13.3f}  "
                  + " ".join(f"{r.seconds:.3f}" for r in runs))
        # No pipeline of a path beats its CPU spread over every core, nor its one serial stage (the inflate).
        best_possible = {
            name: median["inflate-isal"] / max(median["inflate-isal"], (client_cpu[name] + server_cpu[name]) / cores)
            for name in ("bootstrap", "bootstrap-sha256")
        }
        goals = {
            "throughput bootstrap/inflate-isal (higher is better, goal >= 0.9)": median["inflate-isal"] / median["bootstrap"],
            "throughput bootstrap-sha256/inflate-isal (higher is better, goal >= 0.9)": median["inflate-isal"] / median["bootstrap-sha256"],
            "small bundle ready, seconds, client setup included (lower is better, goal <= 0.3)": median["small"],
            "of which setup, seconds (a one-file bundle)": median["setup"],
            "throughput bootstrap/sdk, big (higher is better, goal >= 1)": median["sdk"] / median["bootstrap"],
            "throughput bootstrap/sdk, small (higher is better, goal >= 1)": median["small-sdk"] / median["small"],
        }
        met = {
            "1 bootstrap >= 0.9 of inflate-isal": median["inflate-isal"] / median["bootstrap"] >= GOAL_OF_INFLATE,
            "2 small bundle <= 0.3 s": median["small"] <= GOAL_SMALL_SECONDS,
            "3 never slower than the SDK": median["sdk"] >= median["bootstrap"] and median["small-sdk"] >= median["small"],
        }
        for name, value in goals.items():
            print(f"{name}: {value:.3f}")
        for name, value in best_possible.items():
            print(f"at most, on {cores} cores, {name}/inflate-isal (its CPU, client and server, over {cores} cores; "
                  f"else the inflate alone): {value:.3f}")
        print("goals: " + ", ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in met.items()))
        print(
            json.dumps(
                {
                    "bench": "bundles",
                    "content_bytes": content,
                    "archive_bytes": size,
                    "small_content_bytes": small_content,
                    "rounds": args.rounds,
                    "median_s": {name: round(value, 4) for name, value in median.items()},
                    "median_client_cpu_s": {name: round(value, 4) for name, value in client_cpu.items()},
                    "median_server_cpu_s": {name: round(value, 4) for name, value in server_cpu.items()},
                    "best_possible_of_inflate": {name: round(value, 3) for name, value in best_possible.items()},
                    "goals": {name: round(value, 3) for name, value in goals.items()},
                    "met": met,
                    "load": [load_before, load_after],
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
