"""What the operator reports to a Flyte control plane: ActionEvents derived from the TaskAction (pure), and the log
links they carry."""
