"""Which task types run as a pod here. Upstream routes a task type to the plugin registered for it, and every other type
to the pod plugin, its default (executor/pkg/plugin/registry.go). The types below have a plugin of their own in the
Flyte executor (executor/plugins/loader.go, setup.go); this operator has only the pod plugin, and running such a task as
one plain pod would run the wrong thing (a Spark driver without executors, one rank of a distributed job), so they
fail with PluginNotFound, as upstream does for a type no plugin takes."""

PLUGIN_TASK_TYPES = {
    "spark": "the Spark plugin (a SparkApplication)",
    "ray": "the Ray plugin (a RayJob)",
    "dask": "the Dask plugin (a DaskJob)",
    "pytorch": "the Kubeflow PyTorch plugin (a PyTorchJob)",
    "tensorflow": "the Kubeflow TensorFlow plugin (a TFJob)",
    "mpi": "the Kubeflow MPI plugin (an MPIJob)",
    "clustered-task": "the clustered plugin (a JobSet)",
    "core-sleep": "the core sleep plugin (no pod at all)",
}


def plugin_not_found(task_type: str) -> str | None:
    """Why a task of this type cannot run here, or None when it runs as a pod."""
    plugin = PLUGIN_TASK_TYPES.get(task_type)
    if plugin is None:
        return None
    return (
        f'no plugin found for task type "{task_type}": it needs {plugin}, and taskaction-operator runs tasks as pods '
        f"only (python, container, raw-container, sidecar and other types of a container or k8s_pod target)"
    )
