"""Who may call the actions service for what (actions/access.py): the token from the header, the caller from a
TokenReview, a task pod's scope from its pod and TaskAction, the task pod rules, the SubjectAccessReview asked and
its answer read."""

from __future__ import annotations

import pytest

from taskaction_operator.actions.access import Access, Identity, Refused, TaskPodScope, Unauthenticated
from taskaction_operator.actions.access import access_refusal, access_review, bearer_token, identity_of
from taskaction_operator.actions.access import task_pod_refusal, task_pod_scope

POD_EXTRA = {"authentication.kubernetes.io/pod-name": ["rabc-a0-0"], "authentication.kubernetes.io/pod-uid": ["pod-uid"]}
SA = "system:serviceaccount:flyte:default"
SCOPE = TaskPodScope("rabc-a0-0", "demo", "development", "rabc", "a0")


def enqueue(run: str = "rabc", parent: str | None = "a0", project: str = "demo") -> Access:
    return Access("Enqueue", "create", project, "development", run, "a1", parent)


class TestToken:
    def test_the_bearer_token_of_the_authorization_header(self) -> None:
        assert bearer_token("Bearer abc.def") == "abc.def"
        assert bearer_token("bearer  abc ") == "abc"

    @pytest.mark.parametrize("header", [None, "", "Basic dXNlcg==", "Bearer ", "abc"])
    def test_anything_else_is_no_token(self, header: str | None) -> None:
        with pytest.raises(Unauthenticated, match="Authorization: Bearer"):
            bearer_token(header)


class TestIdentity:
    def test_a_bound_token_names_its_pod(self) -> None:
        identity = identity_of({"authenticated": True, "user": {"username": SA, "uid": "u", "groups": ["g"], "extra": POD_EXTRA}}, "aud")
        assert identity == Identity(SA, "u", ("g",), {k: tuple(v) for k, v in POD_EXTRA.items()})
        assert identity.bound_pod == ("flyte", "rabc-a0-0", "pod-uid")

    def test_a_token_refused_by_the_api_server_says_why(self) -> None:
        with pytest.raises(Unauthenticated, match=r"audience 'aud': .*invalidated"):
            identity_of({"error": "service account token has been invalidated", "user": {}}, "aud")

    @pytest.mark.parametrize("username, extra", [(SA, {}), ("alice@example.com", POD_EXTRA)])
    def test_no_pod_without_both_a_serviceaccount_and_the_pod_extra(self, username: str, extra: dict) -> None:
        assert identity_of({"authenticated": True, "user": {"username": username, "extra": extra}}, "aud").bound_pod is None


def pod(uid: str = "pod-uid", owner_uid: str = "ta-uid", kind: str = "TaskAction") -> dict:
    owner = {"apiVersion": "flyte.org/v1", "kind": kind, "name": "rabc-a0", "uid": owner_uid, "controller": True}
    return {"metadata": {"name": "rabc-a0-0", "uid": uid, "ownerReferences": [owner]}}


TASKACTION = {"metadata": {"name": "rabc-a0", "uid": "ta-uid"}, "spec": {"project": "demo", "domain": "development", "runName": "rabc", "actionName": "a0"}}


class TestTaskPodScope:
    def test_the_run_and_action_of_the_pods_taskaction(self) -> None:
        assert task_pod_scope(pod(), "pod-uid", TASKACTION) == SCOPE

    def test_a_pod_of_the_same_name_made_again_is_not_the_tokens(self) -> None:
        with pytest.raises(Unauthenticated, match="no longer exists"):
            task_pod_scope(pod(uid="other"), "pod-uid", TASKACTION)

    def test_a_taskaction_of_the_same_name_made_again_is_not_the_pods(self) -> None:
        with pytest.raises(Refused, match="TaskAction is gone"):
            task_pod_scope(pod(owner_uid="old"), "pod-uid", TASKACTION)


class TestTaskPodRules:
    def test_it_enqueues_children_of_its_own_action(self) -> None:
        assert task_pod_refusal(enqueue(), SCOPE) is None

    @pytest.mark.parametrize("rpc, verb", [("Abort", "delete"), ("Signal", "patch"), ("WatchForUpdates", "watch")])
    def test_it_aborts_signals_and_watches_any_action_of_its_run(self, rpc: str, verb: str) -> None:
        assert task_pod_refusal(Access(rpc, verb, "demo", "development", "rabc", "a7"), SCOPE) is None

    @pytest.mark.parametrize("access", [enqueue(run="rother"), enqueue(project="other"), Access("Abort", "delete", "demo", "development", "rother", "a0")])
    def test_nothing_in_another_run(self, access: Access) -> None:
        assert "may only act inside its own run" in (task_pod_refusal(access, SCOPE) or "")

    def test_no_children_of_another_action_of_its_run(self) -> None:
        assert task_pod_refusal(enqueue(parent="a3"), SCOPE) == "task pod rabc-a0-0 may only enqueue children of its own action a0, not of action a3"

    def test_no_root(self) -> None:
        assert "not as a root" in (task_pod_refusal(enqueue(parent=None), SCOPE) or "")


class TestSubjectAccessReview:
    IDENTITY = Identity("alice", "u1", ("devs", "system:authenticated"), {"scopes": ("a",)})

    def test_the_calls_verb_on_taskactions_of_the_namespace_for_the_caller(self) -> None:
        assert access_review(self.IDENTITY, enqueue(), "flyte") == {
            "user": "alice", "uid": "u1", "groups": ["devs", "system:authenticated"], "extra": {"scopes": ["a"]},
            "resourceAttributes": {"group": "flyte.org", "resource": "taskactions", "verb": "create", "namespace": "flyte"},
        }  # fmt: skip

    def test_allowed(self) -> None:
        assert access_refusal(self.IDENTITY, enqueue(), "flyte", {"allowed": True}) is None

    @pytest.mark.parametrize("review", [{}, {"allowed": False, "reason": "no RBAC rule"}, {"allowed": True, "denied": True}])
    def test_anything_else_is_refused_naming_the_verb(self, review: dict) -> None:
        refusal = access_refusal(self.IDENTITY, enqueue(), "flyte", review) or ""
        assert refusal.startswith("alice may not create taskactions.flyte.org in namespace flyte, which Enqueue needs")
        assert ("no RBAC rule" in refusal) == ("reason" in review)
