"""The failure of a pod build that is the task's fault."""


class BadTaskSpecification(ValueError):
    """The task asks for what its pod cannot have (upstream's pluginserrors.BadTaskSpecification): a permanent USER
    failure with this code."""
