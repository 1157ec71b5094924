"""Prometheus metrics of the operator (served on settings.metrics_port)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

RECONCILES = Counter("taskaction_reconciles_total", "Reconciles of TaskActions by outcome.", ["outcome"])
RECONCILE_SECONDS = Histogram(
    "taskaction_reconcile_duration_seconds",
    "Duration of one reconcile, API calls included.",
    ["outcome"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
POD_CREATIONS = Counter("taskaction_pod_creations_total", "Pods created, and create failures by reason.", ["outcome"])
API_REQUESTS = Counter("taskaction_api_requests_total", "Kubernetes API requests by verb, resource and HTTP status.", ["verb", "resource", "status"])
API_SECONDS = Histogram(
    "taskaction_api_request_duration_seconds",
    "Latency of Kubernetes API requests.",
    ["verb", "resource"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WATCH_RESTARTS = Counter("taskaction_watch_restarts_total", "Watch restarts by reason: expired (410 Gone, listed again), failed (retried).", ["reason"])
QUEUE_DEPTH = Gauge("taskaction_queue_depth", "TaskActions waiting to be reconciled.")
IN_FLIGHT = Gauge("taskaction_reconciles_in_flight", "Reconciles running now.")
GC_DELETIONS = Counter("taskaction_gc_deletions_total", "Finished TaskActions deleted by the TTL sweep.", ["outcome"])
GC_SWEEP_SECONDS = Histogram(
    "taskaction_gc_sweep_duration_seconds", "Duration of one garbage-collection sweep.", ["error"], buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300)
)
BACKGROUND_CRASHES = Counter(
    "taskaction_background_crashes_total", "Crashes of background loops (gc, event-poster, ghost-sweep), each restarted.", ["loop"]
)
BACKGROUND_BEAT = Gauge(
    "taskaction_background_last_success_timestamp_seconds",
    "When each background loop last finished a unit of work (a GC sweep, an Event posted, a ghost sweep).",
    ["loop"],
)
TASKACTION_BYTES = Histogram(
    "taskaction_object_size_bytes",
    "JSON size of the TaskActions the operator reconciles.",
    buckets=(1024, 4096, 16384, 65536, 262144, 1048576),
)
ACTIONS_SERVICE_REQUESTS = Counter(
    "taskaction_actions_service_requests_total", "Actions service calls by method and Connect code (ok when none).", ["method", "code"]
)
ACTIONS_SERVICE_WATCHERS = Gauge("taskaction_actions_service_watchers", "Open WatchForUpdates streams of the actions service.")
ACTIONS_SERVICE_REVIEWS = Counter(
    "taskaction_actions_service_reviews_total", "TokenReviews (token) and SubjectAccessReviews (access) the actions service asked.", ["kind"]
)

ACTION_EVENTS_SENT = Counter("taskaction_action_events_sent_total", "ActionEvents the Flyte events service accepted.")
ACTION_EVENTS_FAILED = Counter(
    "taskaction_action_events_failed_total", "ActionEvents in Record calls that failed, by Connect code (or the error's type).", ["reason"]
)
CACHE_CALLS = Counter(
    "taskaction_cache_calls_total", "Calls to the Flyte cache service by call (get, put, reserve, release) and outcome.", ["call", "outcome"]
)
ACTION_EVENTS_PENDING = Gauge("taskaction_action_events_pending", "ActionEvents the TaskActions call for that were not accepted yet.")
ACTION_EVENTS_ABANDONED = Counter(
    "taskaction_action_events_abandoned_total", "Deleted TaskActions let go before their events were accepted (the abort wait ran out)."
)
ACTION_EVENT_BATCH_SIZE = Histogram(
    "taskaction_action_event_batch_size", "Events per Record call.", buckets=(1, 2, 5, 10, 25, 50, 100, 200, 400)
)
ACTION_EVENT_BATCH_SECONDS = Histogram(
    "taskaction_action_event_batch_duration_seconds",
    "Latency of Record calls to the events service, by outcome.",
    ["outcome"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# controller-runtime's own metrics (sigs.k8s.io/controller-runtime pkg/metrics and pkg/internal/controller/metrics,
# client-go's workqueue and leaderelection), same names, help, labels and buckets, beside ours: dashboards and alerts
# made for Go operators work unchanged. The one controller and its queue are both called CONTROLLER.
CONTROLLER = "taskaction"
_QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(12))  # prometheus.ExponentialBuckets(10e-9, 10, 12)
WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name", "controller"])
WORKQUEUE_ADDS = Counter("workqueue_adds_total", "Total number of adds handled by workqueue", ["name", "controller"])
WORKQUEUE_QUEUE_SECONDS = Histogram(
    "workqueue_queue_duration_seconds", "How long in seconds an item stays in workqueue before being requested",
    ["name", "controller"], buckets=_QUEUE_BUCKETS,
)
WORKQUEUE_WORK_SECONDS = Histogram(
    "workqueue_work_duration_seconds", "How long in seconds processing an item from workqueue takes.",
    ["name", "controller"], buckets=_QUEUE_BUCKETS,
)
WORKQUEUE_UNFINISHED_SECONDS = Gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large "
    "values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this "
    "increases.",
    ["name", "controller"],
)
WORKQUEUE_LONGEST_SECONDS = Gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
    ["name", "controller"],
)
WORKQUEUE_RETRIES = Counter("workqueue_retries_total", "Total number of retries handled by workqueue", ["name", "controller"])
RECONCILE_TOTAL = Counter("controller_runtime_reconcile_total", "Total number of reconciliations per controller", ["controller", "result"])
RECONCILE_ERRORS = Counter("controller_runtime_reconcile_errors_total", "Total number of reconciliation errors per controller", ["controller"])
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds", "Length of time per reconciliation per controller", ["controller"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5,
             1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60),
)
ACTIVE_WORKERS = Gauge("controller_runtime_active_workers", "Number of currently used workers per controller", ["controller"])
MAX_CONCURRENT_RECONCILES = Gauge(
    "controller_runtime_max_concurrent_reconciles", "Maximum number of concurrent reconciles per controller", ["controller"]
)
LEADER_STATUS = Gauge(
    "leader_election_master_status",
    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' "
    "is the string used to identify the lease. Please make sure to group by name.",
    ["name"],
)


class PhaseCollector:
    """taskaction_active{phase}: computed from the operator's cache at scrape time, never kept up to date."""

    def __init__(self, counts: Callable[[], dict[str, int]]):
        self._counts = counts

    def collect(self):  # noqa: ANN201 (prometheus_client protocol)
        family = GaugeMetricFamily("taskaction_active", "TaskActions known to the operator by status.pluginPhase.", labels=["phase"])
        for phase, count in sorted(self._counts().items()):
            family.add_metric([phase], count)
        yield family


def register_phase_collector(counts: Callable[[], dict[str, int]]) -> None:
    REGISTRY.register(PhaseCollector(counts))
