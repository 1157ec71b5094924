"""The `taskaction-bootstrap` console script (also `python -m taskaction_operator.bundles`)."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import NoReturn

from .errors import BUNDLE_BOOTSTRAP_FAILED, BUNDLE_INVALID_ARGUMENTS, BundleFailure, report

_SIZE = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>[KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}


def parse_size(text: str) -> int:
    """`2147483648`, `2GiB`, `500M`, `64KiB`."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    unit = (match.group("unit") or "").upper().rstrip("B")
    if unit.endswith("I"):
        factor = 1024 ** ("KMGT".index(unit[0]) + 1)
    else:
        factor = _UNITS[unit]
    return int(match.group("n")) * factor


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BundleFailure(BUNDLE_INVALID_ARGUMENTS, message)


def parser() -> argparse.ArgumentParser:
    from .tar_safety import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS

    p = _Parser(
        prog="taskaction-bootstrap",
        description="Fetch a code bundle, verify it, unpack it safely into DEST, then exec CMD in DEST. "
        "Storage credentials come from the environment only (AWS_*, FLYTE_AWS_*).",
        usage="%(prog)s --bundle URI --dest DIR [--sha256 HEX | --md5 HEX] [--cache-dir DIR] [--max-bytes N] [-- CMD ARGS...]",
    )
    p.add_argument("--bundle", required=True, help="bundle URI: s3://, gs://, https://, file://, any fsspec URL")
    p.add_argument("--dest", required=True, type=Path, help="directory to unpack into (absent or empty)")
    digest = p.add_mutually_exclusive_group()
    digest.add_argument("--sha256", help="expected sha256 of the archive")
    digest.add_argument("--md5", help="expected md5 of the archive")
    p.add_argument("--cache-dir", type=Path, help="per-node cache of unpacked bundles (shared by pods)")
    p.add_argument("--max-bytes", type=parse_size, default=DEFAULT_MAX_BYTES, help="limit on the unpacked contents (default 2GiB)")
    p.add_argument("--max-members", type=int, default=DEFAULT_MAX_MEMBERS, help="limit on the archive's members (default %(default)s)")
    p.add_argument("--retries", type=int, default=5, help="tries per storage request (default %(default)s)")
    p.add_argument("--retry-delay", type=float, default=0.5, help="first backoff delay, doubled each try (default %(default)ss)")
    p.add_argument("--retry-deadline", type=float, default=35.0, help="retry for at most this many seconds after a request's first failure (default %(default)ss)")
    p.add_argument("--chunk-size", type=parse_size, default=8 * 1024**2, help="bytes per ranged read, after the first MiB and its doublings (default 8MiB)")
    p.add_argument("--concurrency", type=int, default=4, help="ranged reads in flight (default %(default)s)")
    p.add_argument("--lock-timeout", type=float, default=600.0, help="wait for another pod filling the cache (default %(default)ss)")
    p.add_argument("--quiet", action="store_true", help="log failures only")
    return p


def options_from(argv: list[str]):  # -> bootstrap.Options
    from .bootstrap import Options
    from .fetch import RetryPolicy
    from .tar_safety import Limits

    command: list[str] = []
    if "--" in argv:
        index = argv.index("--")
        argv, command = argv[:index], argv[index + 1 :]
        if not command:
            raise BundleFailure(BUNDLE_INVALID_ARGUMENTS, "no command after --")
    args = parser().parse_args(argv)
    if args.max_bytes <= 0 or args.max_members <= 0 or args.retries < 1 or args.concurrency < 1:
        raise BundleFailure(BUNDLE_INVALID_ARGUMENTS, "limits, --retries and --concurrency must be positive")
    options = Options(
        bundle=args.bundle,
        dest=args.dest,
        sha256=args.sha256,
        md5=args.md5,
        cache_dir=args.cache_dir,
        limits=Limits(max_bytes=args.max_bytes, max_members=args.max_members),
        retry=RetryPolicy(tries=args.retries, base_delay=args.retry_delay, deadline=args.retry_deadline),
        chunk_size=args.chunk_size,
        concurrency=args.concurrency,
        lock_timeout=args.lock_timeout,
        command=command,
    )
    return options, args.quiet


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv in (["-h"], ["--help"]):
        parser().print_help()
        return 0
    logging.basicConfig(level=logging.INFO, format="taskaction-bootstrap: %(message)s", stream=sys.stderr)
    try:
        options, quiet = options_from(argv)
        if quiet:
            logging.getLogger().setLevel(logging.WARNING)
        from .bootstrap import describe, exec_command, run

        outcome = run(options)
        logging.getLogger("taskaction-bootstrap").info("%s", describe(outcome, options))
        if options.command:
            exec_command(options.command, options.dest.absolute())
        return 0
    except BundleFailure as failure:
        return report(failure)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, still a code the operator knows
        logging.getLogger("taskaction-bootstrap").debug("unexpected failure", exc_info=True)
        from .fetch import scrub

        return report(BundleFailure(BUNDLE_BOOTSTRAP_FAILED, scrub(f"unexpected {type(exc).__name__}: {exc}")))


if __name__ == "__main__":
    sys.exit(main())
