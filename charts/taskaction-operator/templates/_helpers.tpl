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
