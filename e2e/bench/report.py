"""The bench's figures as text: one line per phase while it runs, the summary it prints, and its part of
docs/benchmarks.md. Every ratio names its direction: `throughput operator/raw` is the operator's throughput divided
by the raw pods', `latency operator/go` the operator's latency divided by the Go executor's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SIDES = {"raw": "raw pods (plain client)", "operator": "taskaction-operator", "go": "Go executor"}
ORDER = ("raw", "operator", "go")
PROFILE_LINES = 60  # of the profile's top functions, in docs/benchmarks.md


def one_line(f: dict[str, Any]) -> str:
    parts = [
        f"{f['succeeded']}/{f['actions']} Succeeded",
        f"pods exist {f['all_pods_exist_seconds']} s",
        f"all Succeeded {f['all_succeeded_seconds']} s",
        f"create->pod p50/p99 {f['create_to_pod_ms']['p50']}/{f['create_to_pod_ms']['p99']} ms",
        f"create->Succeeded p50/p99 {f['create_to_succeeded_ms']['p50']}/{f['create_to_succeeded_ms']['p99']} ms",
        f"pod->pod Succeeded p50/p99 {split(f, 'pod_to_pod_succeeded_ms')}",
        f"pod Succeeded->Succeeded p50/p99 {split(f, 'pod_succeeded_to_succeeded_ms')}",
        f"pod->scheduled {split(f, 'pod_to_scheduled_ms')}, scheduled->Running {split(f, 'scheduled_to_running_ms')}, "
        f"Running->pod Succeeded {split(f, 'running_to_pod_succeeded_ms')}",
        f"pod writes while Running {f.get('pod_writes_while_running_per_pod')}/pod {f.get('pod_writers_while_running') or ''}",
        f"writes/action {f['api_writes_per_action']} (executor's {f['executor_writes_per_action']})",
    ]
    if "cpu_seconds" in f:
        parts += [f"CPU {f['cpu_seconds']} s ({f['cpu_ms_per_action']} ms/action)", f"peak RSS {f['peak_rss_mib']} MiB"]
    if f.get("machine_busy_cores") is not None:
        parts += [f"API server CPU {f['apiserver_cpu_ms_per_action']} ms/action",
                  f"machine busy {f['machine_busy_cores']} of {f['machine_cores']} cores"]
    return ", ".join(parts)


def split(f: dict[str, Any], name: str) -> str:
    """p50/p99 of a latency that older results do not have."""
    figure = f.get(name) or {}
    return f"{figure.get('p50')}/{figure.get('p99')} ms"


def seconds(ms: float | None) -> str:
    return "" if ms is None else f"{ms / 1000:.2f}"


def p50_p99(phase: dict[str, Any], name: str) -> str:
    figure = phase.get(name)
    return f"{seconds(figure['p50'])} / {seconds(figure['p99'])}" if figure else ""


def rows(phase: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("every pod exists (s)", phase["all_pods_exist_seconds"]),
        ("every action Succeeded (s)", phase["all_succeeded_seconds"]),
        ("create -> pod p50 / p99 (s)", f"{seconds(phase['create_to_pod_ms']['p50'])} / {seconds(phase['create_to_pod_ms']['p99'])}"),
        ("create -> Succeeded p50 / p99 (s)",
         f"{seconds(phase['create_to_succeeded_ms']['p50'])} / {seconds(phase['create_to_succeeded_ms']['p99'])}"),
        ("pod -> pod Succeeded p50 / p99 (s)", p50_p99(phase, "pod_to_pod_succeeded_ms")),
        ("pod Succeeded -> action Succeeded p50 / p99 (s)", p50_p99(phase, "pod_succeeded_to_succeeded_ms")),
        ("of pod -> pod Succeeded: pod -> scheduled p50 / p99 (s)", p50_p99(phase, "pod_to_scheduled_ms")),
        ("of pod -> pod Succeeded: scheduled -> Running p50 / p99 (s)", p50_p99(phase, "scheduled_to_running_ms")),
        ("of pod -> pod Succeeded: Running -> pod Succeeded p50 / p99 (s)", p50_p99(phase, "running_to_pod_succeeded_ms")),
        ("writes to a Running pod, per pod (each restarts kwok's 1 s)", phase.get("pod_writes_while_running_per_pod", "")),
        ("CPU seconds of the executor", phase.get("cpu_seconds", "")),
        ("CPU per action (ms)", phase.get("cpu_ms_per_action", "")),
        ("peak RSS (MiB)", phase.get("peak_rss_mib", "")),
        ("API writes per action, all", phase["api_writes_per_action"]),
        ("API writes per action, the executor's", phase["executor_writes_per_action"] if "cpu_seconds" in phase else ""),
        ("API server CPU per action (ms)", phase.get("apiserver_cpu_ms_per_action", "")),
        ("the cluster's CPU per action (ms): API server, etcd, scheduler, controller manager, kwok",
         phase.get("cluster_cpu_ms_per_action", "")),
        ("machine busy, cores (of the machine's), first create to last Succeeded", busy(phase)),
    ]


def busy(phase: dict[str, Any]) -> str:
    """Busy cores of the machine's; older results do not have them."""
    cores = phase.get("machine_busy_cores")
    return "" if cores is None else f"{cores} of {phase['machine_cores']}"


def phase_titles(results: dict[str, Any], with_counts: bool = False) -> dict[str, str]:
    """Each phase this run has, in order, and its title; the faster steady phase only in runs that had it."""
    titles = {"burst": f"{results['count']:,} at once"}
    for phase, rate in steady_rates(results).items():
        if rate and all(phase in results["sides"][s] for s in results["sides"]):
            actions = f" ({int(rate * results['seconds'])} actions)" if with_counts else ""
            titles[phase] = f"steady {rate:g}/s{actions}"
    return titles


def steady_rates(results: dict[str, Any]) -> dict[str, float | None]:
    """The steady phases and their rates; results from before `--high-rate` have no "high"."""
    return {"steady": results["rate"], "high": results.get("high_rate")}


def steady_at(results: dict[str, Any], rate: float) -> str | None:
    """The steady phase that ran at `rate` actions a second, if one did."""
    return next((p for p, r in steady_rates(results).items() if r == rate and p in results["sides"]["operator"]), None)


def table(results: dict[str, Any]) -> list[str]:
    sides = [s for s in ORDER if s in results["sides"]]
    lines = ["| figure | " + " | ".join(SIDES[s] for s in sides) + " |", "|---" * (len(sides) + 1) + "|"]
    for phase, title in phase_titles(results, with_counts=True).items():
        per_side = [rows(results["sides"][s][phase]) for s in sides]
        for i, (name, _) in enumerate(per_side[0]):
            values = [str(r[i][1]) for r in per_side]
            if any(values):
                lines.append(f"| {title}: {name} | " + " | ".join(values) + " |")
    return lines


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def ratios(results: dict[str, Any]) -> list[tuple[str, float | None]]:
    s = results["sides"]
    op, raw = s["operator"], s["raw"]
    out = [
        ("throughput operator/raw (at once, every pod exists)", ratio(raw["burst"]["all_pods_exist_seconds"], op["burst"]["all_pods_exist_seconds"])),
        ("throughput operator/raw (at once, every action Succeeded vs every pod Succeeded)",
         ratio(raw["burst"]["all_succeeded_seconds"], op["burst"]["all_succeeded_seconds"])),
        ("latency operator/raw (steady, create -> Succeeded p50)",
         ratio(op["steady"]["create_to_succeeded_ms"]["p50"], raw["steady"]["create_to_succeeded_ms"]["p50"])),
        ("API server CPU per action operator/raw (steady)",
         ratio(op["steady"].get("apiserver_cpu_ms_per_action"), raw["steady"].get("apiserver_cpu_ms_per_action"))),
    ]
    if "go" in s:
        go = s["go"]
        out += [
            ("throughput go/raw (at once, every pod exists)", ratio(raw["burst"]["all_pods_exist_seconds"], go["burst"]["all_pods_exist_seconds"])),
            ("time operator/go (at once, every action Succeeded; goal <= 0.9)",
             ratio(op["burst"]["all_succeeded_seconds"], go["burst"]["all_succeeded_seconds"])),
            ("latency operator/go (steady, create -> Succeeded p50)",
             ratio(op["steady"]["create_to_succeeded_ms"]["p50"], go["steady"]["create_to_succeeded_ms"]["p50"])),
            ("latency operator/go (steady, create -> Succeeded p99)",
             ratio(op["steady"]["create_to_succeeded_ms"]["p99"], go["steady"]["create_to_succeeded_ms"]["p99"])),
            ("latency operator/go (steady, create -> pod p50)",
             ratio(op["steady"]["create_to_pod_ms"]["p50"], go["steady"]["create_to_pod_ms"]["p50"])),
            ("CPU per action operator/go (steady)", ratio(op["steady"]["cpu_ms_per_action"], go["steady"]["cpu_ms_per_action"])),
            ("API writes per action operator/go (steady, the executor's)",
             ratio(op["steady"]["executor_writes_per_action"], go["steady"]["executor_writes_per_action"])),
            ("peak RSS operator/go (steady)", ratio(op["steady"]["peak_rss_mib"], go["steady"]["peak_rss_mib"])),
            ("API server CPU per action operator/go (steady)",
             ratio(op["steady"].get("apiserver_cpu_ms_per_action"), go["steady"].get("apiserver_cpu_ms_per_action"))),
        ]
        if "high" in op and "high" in go:
            out.append((f"latency operator/go (steady {results['high_rate']:g}/s, create -> Succeeded p99)",
                        ratio(op["high"]["create_to_succeeded_ms"]["p99"], go["high"]["create_to_succeeded_ms"]["p99"])))
            out.append((f"CPU per action operator/go (steady {results['high_rate']:g}/s)",
                        ratio(op["high"]["cpu_ms_per_action"], go["high"]["cpu_ms_per_action"])))
    return out


def goals(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """Issue 16's goals: (goal, measured, met); met is None when this run cannot say."""
    op = results["sides"]["operator"]
    steady = op["steady"]
    p50, p99 = steady["create_to_succeeded_ms"]["p50"], steady["create_to_succeeded_ms"]["p99"]
    rate = results["rate"]
    out: list[tuple[str, str, bool | None]] = []
    if rate == 20:
        out.append(("steady 20/s: create -> Succeeded p50 <= 1.5 s, p99 <= 2.0 s", f"{seconds(p50)} / {seconds(p99)} s{context(results, 'steady')}",
                    p50 is not None and p99 is not None and p50 <= 1500 and p99 <= 2000))
        out.append(("CPU per action <= 10 ms (steady 20/s)", f"{steady['cpu_ms_per_action']} ms", steady["cpu_ms_per_action"] <= 10))
    fifty = steady_at(results, 50)
    if fifty:
        high = op[fifty]
        high_p99 = high["create_to_succeeded_ms"]["p99"]
        out.append(("steady 50/s sustained, p99 <= 3 s",
                    f"p99 {seconds(high_p99)} s, {high['succeeded']}/{high['actions']} Succeeded{context(results, fifty)}",
                    high_p99 is not None and high_p99 <= 3000 and high["succeeded"] == high["actions"]))
    out.append(("operator API writes per action <= 6 (steady, the executor's)", f"{steady['executor_writes_per_action']}",
                steady["executor_writes_per_action"] <= 6))
    if "go" in results["sides"]:
        r = ratio(op["burst"]["all_succeeded_seconds"], results["sides"]["go"]["burst"]["all_succeeded_seconds"])
        out.append(("at once: every action Succeeded in <= 0.9 of the Go executor's time", f"time operator/go = {r}", r is not None and r <= 0.9))
    memory = results.get("memory")
    if memory:
        out.append((f"peak RSS <= 150 MiB with {memory['actions']:,} TaskActions", f"{memory['peak_rss_mib_while_running']} MiB",
                    memory["peak_rss_mib_while_running"] <= 150))
        flat = memory["rss_with_over_without_unrelated_pods"]
        out.append((f"RSS flat (within 10 %) with {memory['unrelated_pods']:,} unrelated pods", f"RSS with/without = {flat}", flat <= 1.10))
        out.append((f"a {memory['actions']:,}-action burst completes", f"{memory['succeeded']:,} Succeeded in {memory['all_succeeded_seconds']} s",
                    memory["succeeded"] == memory["actions"]))
    return out


def context(results: dict[str, Any], phase: str) -> str:
    """What a latency goal's figure is up against: raw pods' own p50 / p99 at that rate, and how busy the machine
    was during each (results from before machine_cpu.py have no busy cores)."""
    raw = results["sides"]["raw"][phase]
    op = results["sides"]["operator"][phase]
    text = f" (raw pods {p50_p99(raw, 'create_to_succeeded_ms')} s"
    if raw.get("machine_busy_cores") is not None and op.get("machine_busy_cores") is not None:
        text += f"; machine busy, raw / operator: {raw['machine_busy_cores']} / {op['machine_busy_cores']} of {op['machine_cores']} cores"
    return text + ")"


def writes_breakdown(results: dict[str, Any], phase: str) -> list[str]:
    sides = [s for s in ORDER if s in results["sides"]]
    count = {s: results["sides"][s][phase]["actions"] for s in sides}
    keys = sorted({k for s in sides for k in results["sides"][s][phase]["api_writes"]})
    lines = ["| resource and verb | " + " | ".join(SIDES[s] for s in sides) + " |", "|---" * (len(sides) + 1) + "|"]
    for key in keys:
        cells = []
        for s in sides:
            n = results["sides"][s][phase]["api_writes"].get(key, 0)
            mine = key in results["sides"][s][phase]["executor_writes"] and s != "raw"
            cells.append(f"{'**' if mine else ''}{n / count[s]:.2f}{'**' if mine else ''}" if n else "")
        lines.append(f"| `{key}` | " + " | ".join(cells) + " |")
    return lines


def memory_lines(memory: dict[str, Any] | None) -> list[str]:
    if not memory:
        return ["Memory figure: not run (`--memory N`)."]
    return [
        f"Memory (`--memory {memory['actions']}`): the operator watching every namespace, {memory['actions']:,} TaskActions at once: "
        f"{memory['succeeded']:,} Succeeded in {memory['all_succeeded_seconds']} s; peak RSS {memory['peak_rss_mib_while_running']} MiB, "
        f"{memory['rss_mib_finished']} MiB once all finished; after {memory['unrelated_pods']:,} unrelated pods in another namespace "
        f"(created in {memory['unrelated_pods_created_seconds']} s): {memory['rss_mib_with_unrelated_pods']} MiB"
        + (f" (peak {memory['peak_rss_mib_with_unrelated_pods']} MiB)" if memory.get("peak_rss_mib_with_unrelated_pods") else "")
        + f", RSS with/without = {memory['rss_with_over_without_unrelated_pods']}. "
        f"Measured {memory['date']}, load average {' / '.join(str(x) for x in memory['load_average'])} at the end, by `{memory['command']}`."
    ]


def summary(results: dict[str, Any]) -> str:
    lines = ["", *table(results), ""]
    lines += [f"{name} = {value}" for name, value in ratios(results)]
    lines += ["", "goals (issue 16):"]
    lines += [f"  [{'met' if met else 'NOT met'}] {goal}: {measured}" for goal, measured, met in goals(results)]
    lines += ["", *memory_lines(results.get("memory"))]
    lines += ["", f"load average (1, 5, 15 min): {results['load_averages']}"]
    return "\n".join(lines)


def markdown(results: dict[str, Any], png: Path) -> str:
    loads = "; ".join(f"{when} {' / '.join(str(x) for x in la)}" for when, la in results["load_averages"].items())
    profiled = results["sides"]["operator"].get("profiled", {})
    parts = [
        "# Benchmarks",
        "",
        "Operator: raw pods, taskaction-operator and the Go executor, the same work for each.",
        "",
        f"Printed by `e2e/bench/bench.py` (`make bench`), {results['date']}, {results['machine']}, shared with other engineers: "
        f"load average (1 / 5 / 15 min) {loads}. Command:",
        "",
        "```bash",
        results["command"],
        "```",
        "",
        "`make bench` runs it with no options (and the two benchmarks below); `BENCH_ARGS` passes options, the Go "
        "executor joins with `GO_EXECUTOR=<path of its binary>` (built from flyteorg/flyte v2.0.43, run standalone "
        "with an events-service double, e2e/bench/events_double.py). `--rate` and `--high-rate` for the two steady phases' "
        "rates (20 and 50 a second); "
        "`--profile` for py-spy on the operator; `--memory [N]` (slow, off by default: N = 10000 TaskActions at once, "
        "then 20,000 unrelated pods) for the memory figure; `--keep-cluster` to leave the cluster up. See `--help`.",
        "",
        "A kwok cluster of its own (`bench`), SeaweedFS for S3, one side after the other on the same cluster. Every action "
        "is a TaskAction of a real flyte 2.12.1 task whose outputs.pb is in S3 before it is created, read on success as "
        "in production; kwok ends each pod 1 s after it runs. Raw pods: the operator's own pods, created by the bench "
        "with a plain async client. Create = the create request answered; pod and Succeeded = the first event of "
        "watches opened before the first create; pod Succeeded = its pod's first event in phase Succeeded, so that "
        "create -> Succeeded splits into create -> pod, pod -> pod Succeeded (the scheduler and kwok) and pod Succeeded "
        "-> action Succeeded (what the executor adds after the pod's own work: 0 for raw pods); pod -> pod Succeeded splits "
        "again into pod -> scheduled (kube-scheduler's bind), scheduled -> Running (kwok) and Running -> pod Succeeded "
        "(kwok's 1 s, counted from the pod's last update: \"writes to a Running pod\" counts the updates that restart it). "
        "kwok-controller plays pods with 32 workers (e2e/kwok/kwokctl.yaml; its default 4 capped the whole cluster at "
        "4 pod transitions per API write latency, and so made the executor that loads the API server more look slower "
        "by a queue in kwok). "
        f"At once: {results['concurrency']} creates in flight. CPU and RSS: "
        "the executor's process (psutil). The cluster's CPU: its own processes' (e2e/bench/machine_cpu.py), until the "
        "phase's writes settled; machine busy: every process's CPU but idle, I/O wait and steal, from the first create "
        "to the last Succeeded, in cores: near the machine's count, the machine was the queue for every side. API writes: the API server's `apiserver_request_total`, every verb but "
        "GET/LIST/WATCH, before and after each phase; \"the executor's\" leaves out the bench's own creates, the "
        "scheduler's bindings and events.k8s.io Events, kwok's status writes and the Leases. Raw figures: "
        "`e2e/bench/results/latest.json` (not committed).",
        "",
        *table(results),
        "",
        *[f"- `{name} = {value}`" for name, value in ratios(results)],
        "",
        "Goals of issue 16:",
        "",
        "| goal | measured | met |",
        "|---|---|---|",
        *[f"| {goal} | {measured} | {'yes' if met else '**no**'} |" for goal, measured, met in goals(results)],
        "",
        *memory_lines(results.get("memory")),
        "",
        f"create -> Succeeded of every action over time and its CDF: [{png.name}](../{png})",
        "",
        f"![create -> Succeeded latency](../{png})",
        "",
        f"API writes per action by resource and verb, steady {results['rate']:g}/s (bold: counted as the executor's):",
        "",
        *writes_breakdown(results, "steady"),
        "",
        f"The same, {results['count']:,} at once:",
        "",
        *writes_breakdown(results, "burst"),
    ]
    if profiled.get("profile"):
        parts += [
            "",
            f"Where the operator's CPU goes: py-spy ({', '.join(f'`{p}`' for p in profiled['profile'])}, not committed) during one "
            f"more steady phase (`--profile`; {one_line(profiled)}). Top frames:",
            "",
            "```text",
            *profiled["profile_top"].splitlines()[:PROFILE_LINES],
            "```",
        ]
    return "\n".join(parts) + "\n"


def plot_series(results: dict[str, Any]) -> dict[str, dict[str, list]]:
    return {
        title: {SIDES[s]: results["sides"][s][phase]["series"] for s in ORDER if s in results["sides"]}
        for phase, title in phase_titles(results).items()
    }
