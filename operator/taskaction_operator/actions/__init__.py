"""The Flyte 2 actions service (flyteidl2 `ActionsService`) over TaskActions, for the SDK's in-task controller:

- `enqueue`: an `actions.Action` (+ `RunSpec`) as the TaskAction the Go actions client would create (pure);
- `updates`: a TaskAction as the `workflow.ActionUpdate` its parent's watch receives (pure);
- `hub`: one watch of the namespace's TaskActions fanned out to every `WatchForUpdates` stream;
- `service`: the RPCs; `server`: the Connect/gRPC endpoint (hypercorn), in the operator or on its own.
"""
