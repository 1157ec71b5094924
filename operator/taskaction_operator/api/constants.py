"""Names of the Flyte 2 TaskAction contract (flyteorg/flyte executor/api/v1, pkg/controller)."""

GROUP = "flyte.org"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "TaskAction"
PLURAL = "taskactions"
SINGULAR = "taskaction"
SHORT_NAMES = ["ta"]
CATEGORIES = ["flyte"]

FINALIZER = "flyte.org/plugin-finalizer"

# A namespace's name (and a run's): a DNS-1123 label, at most 63 characters.
DNS1123_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

# Labels the executor writes on the TaskAction.
LABEL_TERMINATION_STATUS = "flyte.org/termination-status"
LABEL_COMPLETED_TIME = "flyte.org/completed-time"
LABEL_VALUE_TERMINATED = "terminated"

# Labels the control plane writes on the TaskAction.
LABEL_PROJECT = "flyte.org/project"
LABEL_DOMAIN = "flyte.org/domain"
LABEL_RUN = "flyte.org/run"
LABEL_ACTION = "flyte.org/action"
LABEL_ACTION_TYPE = "flyte.org/action-type"
LABEL_IS_ROOT = "flyte.org/is-root"

# The label every pod we create carries; the pod watch is restricted to it server-side.
LABEL_MANAGED = "flyte.org/managed"
# Ours, not Flyte's: which launch of the attempt made the pod (`<attempt>.<systemFailures>`), so a pod left by an
# earlier launch of the same attempt (same name) is never taken for the new one.
ANNOTATION_LAUNCH = "taskaction.flyte.org/launch"
MANAGED_SELECTOR = f"{LABEL_MANAGED}=true"

# Condition types and reasons (api/v1/taskaction_types.go).
CONDITION_PROGRESSING = "Progressing"
CONDITION_SUCCEEDED = "Succeeded"
CONDITION_FAILED = "Failed"

REASON_QUEUED = "Queued"
REASON_INITIALIZING = "Initializing"
REASON_EXECUTING = "Executing"
REASON_COMPLETED = "Completed"
REASON_RETRYABLE_FAILURE = "RetryableFailure"
REASON_PERMANENT_FAILURE = "PermanentFailure"
REASON_ABORTED = "Aborted"
REASON_INVALID_SPEC = "InvalidSpec"
REASON_PLUGIN_NOT_FOUND = "PluginNotFound"
REASON_PAUSED = "Paused"
REASON_SIGNALED = "Signaled"
REASON_TIMED_OUT = "TimedOut"

ACTION_TYPE_TASK = "task"
ACTION_TYPE_CONDITION = "condition"

# errorState.kind values.
KIND_USER = "USER"
KIND_SYSTEM = "SYSTEM"

# Error codes of our own making, beside the ones pod phases produce.
CODE_MAX_SYSTEM_FAILURES = "MaxSystemFailuresExceeded"
CODE_MAX_RETRIES = "MaxRetriesExceeded"
CODE_RESOURCE_DELETED = "ResourceDeletedExternally"
CODE_PARENT_NOT_FOUND = "ParentNotFound"
CODE_PARENT_DELETED = "ParentDeleted"
CODE_TASK_TIMED_OUT = "TaskTimedOut"

ROOT_ACTION_NAME = "a0"
