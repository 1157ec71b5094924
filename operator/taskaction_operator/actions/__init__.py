"""The Flyte 2 actions service (flyteidl2 `ActionsService`) over TaskActions, for the SDK's in-task controller:

- `enqueue`: an `actions.Action` (+ `RunSpec`) as the TaskAction the Go actions client would create (pure);
- `updates`: a TaskAction as the `workflow.ActionUpdate` its parent's watch receives (pure);
- `hub`: one watch of the namespace's TaskActions fanned out to every `WatchForUpdates` stream;
- `access`: who may call for what, from what the API server says of the caller (pure); `auth`: the gate every RPC
  passes, TokenReview and SubjectAccessReview with a short cache;
- `service`: the RPCs; `server`: the Connect/gRPC endpoint (hypercorn, cleartext or TLS), in the operator or on its own.
"""
