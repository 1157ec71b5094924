"""From a TaskTemplate to a pod, and from a pod's status to a phase."""
