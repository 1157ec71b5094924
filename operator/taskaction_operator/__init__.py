"""taskaction-operator: executes Flyte 2 TaskAction custom resources on Kubernetes."""
