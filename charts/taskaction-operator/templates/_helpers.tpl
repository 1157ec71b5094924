{{/* Name of the chart, overridable. */}}
{{- define "taskaction-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "taskaction-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "taskaction-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "taskaction-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskaction-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "taskaction-operator.labels" -}}
helm.sh/chart: {{ include "taskaction-operator.chart" . }}
{{ include "taskaction-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "taskaction-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "taskaction-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Namespace a PodTemplate is looked up in when the task's namespace has none. */}}
{{- define "taskaction-operator.podTemplateNamespace" -}}
{{- default .Release.Namespace .Values.podTemplates.namespace -}}
{{- end -}}

{{/*
What the operator does in the namespaces it watches (one list for the ClusterRole and for each namespaced Role).
Each rule is proved by tests/e2e/test_rbac.py, which runs the real operator with this ServiceAccount's token.
*/}}
{{- define "taskaction-operator.rules" -}}
# Watch TaskActions (kopf list+watch), read a parent or re-read one (get), write finalizers/labels/ownerReferences
# (merge patch), garbage-collect finished ones (delete).
- apiGroups: ["flyte.org"]
  resources: ["taskactions"]
  verbs: ["get", "list", "watch", "patch", "delete"]
# Every phase is written into status (merge patch; status is never read through the subresource).
- apiGroups: ["flyte.org"]
  resources: ["taskactions/status"]
  verbs: ["patch"]
# Pods and child TaskActions carry ownerReferences with blockOwnerDeletion to their TaskAction: with the
# OwnerReferencesPermissionEnforcement admission plugin that requires update on the owner's finalizers.
- apiGroups: ["flyte.org"]
  resources: ["taskactions/finalizers"]
  verbs: ["update"]
# One pod per attempt: kopf list+watch (label selector flyte.org/managed=true), a live get to confirm a cache miss,
# create, delete on abort and before a system retry.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "delete"]
# The PodTemplate a task's pod is merged onto, read by name when a pod is made (never listed).
- apiGroups: [""]
  resources: ["podtemplates"]
  verbs: ["get"]
# An Event per phase (the operator) and handler messages (kopf); both POST core/v1 events, neither patches them.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/*
The actions service (actionsService.enabled). Its namespace: actionsService.namespace, else the first of
watchNamespaces, else "flyte". With watchNamespaces set it must be one of them: the operator executes TaskActions
only there, so anything the service created elsewhere would never run. The render fails instead.
*/}}
{{- define "taskaction-operator.actionsNamespace" -}}
{{- $ns := .Values.actionsService.namespace | default (first .Values.watchNamespaces) | default "flyte" -}}
{{- if and .Values.watchNamespaces (not (has $ns .Values.watchNamespaces)) -}}
{{- fail (printf "actionsService.namespace %q is not one of watchNamespaces %v: the operator would never run the TaskActions the actions service creates there" $ns .Values.watchNamespaces) -}}
{{- end -}}
{{- $ns -}}
{{- end -}}

{{- define "taskaction-operator.actionsServiceName" -}}
{{- printf "%s-actions" (include "taskaction-operator.fullname" .) -}}
{{- end -}}

{{/*
The actions Service as task pods reach it (_U_EP_OVERRIDE). With auth, a URL: the Flyte SDK sends its token only on a
channel it does not call insecure, and an http:// endpoint without _U_INSECURE is one (docs/actions-service.md).
*/}}
{{- define "taskaction-operator.actionsEndpoint" -}}
{{- $hostPort := printf "%s.%s.svc:%d" (include "taskaction-operator.actionsServiceName" .) .Release.Namespace (int .Values.actionsService.port) -}}
{{- if .Values.actionsService.tls.secretName -}}
{{- printf "https://%s" $hostPort -}}
{{- else if .Values.actionsService.auth.enabled -}}
{{- printf "http://%s" $hostPort -}}
{{- else -}}
{{- $hostPort -}}
{{- end -}}
{{- end -}}

{{/*
TASKACTION_DEFAULT_ENV_VARS: defaultEnvVars, plus, with the actions service, what the Flyte SDK needs to use it
(upstream Helm sets the same three keys). A key the user set in defaultEnvVars wins.
*/}}
{{- define "taskaction-operator.defaultEnvVars" -}}
{{- $env := deepCopy .Values.defaultEnvVars -}}
{{- if .Values.actionsService.enabled -}}
{{- $env = merge $env (dict "_U_EP_OVERRIDE" (include "taskaction-operator.actionsEndpoint" .) "_U_USE_ACTIONS" "1") -}}
{{- if not (or .Values.actionsService.auth.enabled .Values.actionsService.tls.secretName) -}}
{{- $env = merge $env (dict "_U_INSECURE" "true") -}}
{{- end -}}
{{- end -}}
{{- toJson $env -}}
{{- end -}}

{{/*
An image reference from {repository, tag, digest} (dict "image" ... "root" $): repository@digest when a digest is
set, else repository:tag, the tag defaulting to the chart's appVersion.
*/}}
{{- define "taskaction-operator.imageRef" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Namespace of the `helm test` TaskAction: helmTest.namespace, else the first of watchNamespaces, else the release's. */}}
{{- define "taskaction-operator.testNamespace" -}}
{{- .Values.helmTest.namespace | default (first .Values.watchNamespaces) | default .Release.Namespace -}}
{{- end -}}
