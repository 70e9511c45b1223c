{{/* Resource name prefix: the release name, plus the chart name unless it already contains it. */}}
{{- define "mcp-v8.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "mcp-v8.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "mcp-v8.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}


{{- define "mcp-v8.gatewayImage" -}}
{{- printf "%s:%s" .Values.image.gateway.repository (.Values.image.gateway.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "mcp-v8.runnerImage" -}}
{{- printf "%s:%s" .Values.image.runner.repository (.Values.image.runner.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
PodSecurity "restricted" at pod level. runAsUser is numeric because the kubelet cannot prove a
named image user (USER node) is non-root; 1000 is the node user of the node:24 images.
*/}}
{{- define "mcp-v8.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mcp-v8.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Connection settings as MCP_V8_* environment (the CLI reads MCP_V8_<FLAG>). Secrets are
referenced, never inlined.
*/}}
{{- define "mcp-v8.connectionEnv" -}}
{{ include "mcp-v8.runnerEnv" . }}
{{- end -}}

{{/* The tenant namespace labels (tenantNamespaceSelector.matchLabels), as JSON; {} when none. */}}
{{- define "mcp-v8.tenantLabels" -}}
{{- $selector := .Values.tenantNamespaceSelector | default dict }}
{{- if hasKey $selector "matchExpressions" }}
{{- fail "tenantNamespaceSelector: only matchLabels is supported (a namespace is a tenant when it carries every one of them)" }}
{{- end }}
{{- dig "matchLabels" dict $selector | default dict | toJson }}
{{- end -}}

{{/*
Who the gateway serves: tenants by name (MCP_V8_TENANTS) and by namespace labels
(MCP_V8_TENANT_NAMESPACE_LABELS). Neither: nobody (the gateway refuses every caller).
*/}}
{{- define "mcp-v8.gatewayTenancyEnv" -}}
{{- if .Values.tenants }}
- name: MCP_V8_TENANTS
  value: {{ .Values.tenants | toJson | quote }}
{{- end }}
{{- $labels := include "mcp-v8.tenantLabels" . }}
{{- if ne $labels "{}" }}
- name: MCP_V8_TENANT_NAMESPACE_LABELS
  value: {{ $labels | quote }}
{{- end }}
{{- end -}}

{{/*
Whose Executions the controller runs: the listed tenants' namespaces; with a label selector
(namespaces come and go) or no list, every namespace it is bound to.
*/}}
{{- define "mcp-v8.controllerTenancyEnv" -}}
{{- if and .Values.tenants (eq (include "mcp-v8.tenantLabels" .) "{}") }}
- name: MCP_V8_TENANTS
  value: {{ .Values.tenants | toJson | quote }}
{{- end }}
{{- end -}}

{{/*
What a runner pod needs to reach NATS, S3 and the policy endpoint (the controller copies this
list, as JSON in MCP_V8_RUNNER_POD_ENV, into every runner pod it creates).
*/}}
{{- define "mcp-v8.runnerEnv" -}}
- name: MCP_V8_NATS_URL
  value: {{ .Values.nats.url | quote }}
{{- with .Values.nats.tokenSecret }}{{ if .name }}
- name: MCP_V8_NATS_TOKEN
  valueFrom:
    secretKeyRef: { name: {{ .name | quote }}, key: {{ .key | quote }} }
{{- end }}{{ end }}
- name: MCP_V8_S3_BUCKET
  value: {{ .Values.s3.bucket | quote }}
{{- if .Values.s3.endpoint }}
- name: MCP_V8_S3_ENDPOINT
  value: {{ .Values.s3.endpoint | quote }}
{{- end }}
{{- if .Values.s3.prefix }}
- name: MCP_V8_S3_PREFIX
  value: {{ .Values.s3.prefix | quote }}
{{- end }}
- name: MCP_V8_S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: MCP_V8_S3_FORCE_PATH_STYLE
  value: {{ .Values.s3.forcePathStyle | quote }}
{{- with .Values.s3.credentialsSecret }}{{ if .name }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: { name: {{ .name | quote }}, key: {{ .accessKeyIdKey | quote }} }
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: { name: {{ .name | quote }}, key: {{ .secretAccessKeyKey | quote }} }
{{- end }}{{ end }}
{{- end -}}

{{/* The runner pods' environment: their connection settings, and where the egress broker is. */}}
{{- define "mcp-v8.runnerPodEnv" -}}
{{ include "mcp-v8.runnerEnv" . }}
{{- if .Values.egress.enabled }}
- name: MCP_V8_EGRESS_URL
  value: {{ printf "http://%s-gateway.%s.svc:%v" (include "mcp-v8.fullname" .) .Release.Namespace .Values.egress.port | quote }}
{{- end }}
{{- end -}}

{{/*
The egress token key (egress.keySecret), for the gateway and the controller only: never part of
the runner pods' environment (the controller drops it from theirs anyway).
*/}}
{{- define "mcp-v8.egressKeyEnv" -}}
{{- if .Values.egress.enabled -}}
{{- if not .Values.egress.keySecret.name -}}
{{- fail "egress.keySecret.name is required with egress.enabled (a Secret holding the token key)" -}}
{{- end -}}
- name: MCP_V8_EGRESS_KEY
  valueFrom:
    secretKeyRef: { name: {{ .Values.egress.keySecret.name | quote }}, key: {{ .Values.egress.keySecret.key | quote }} }
{{- end -}}
{{- end -}}

{{/*
The gateway's egress broker settings: its port (the runner NetworkPolicy opens only that one),
the key, and the files of its policies and header rules (mounted by gateway-deployment.yaml).
*/}}
{{- define "mcp-v8.gatewayEgressEnv" -}}
{{- if .Values.egress.enabled -}}
- name: MCP_V8_EGRESS_PORT
  value: {{ .Values.egress.port | quote }}
{{ include "mcp-v8.egressKeyEnv" . }}
{{- if .Values.egress.policies }}
- name: MCP_V8_POLICIES_JSON
  value: /etc/mcp-v8/egress/policies.json
{{- end }}
{{- if .Values.egress.headerRulesSecret.name }}
- name: MCP_V8_FETCH_HEADER_CONFIG
  value: /etc/mcp-v8/egress-headers/rules.json
{{- end }}
{{- end -}}
{{- end -}}

{{/*
Binds the component's ClusterRole (Executions) where its tenants are: one RoleBinding per listed
tenant namespace (least privilege); cluster-wide with a namespace label selector (tenant
namespaces come and go). With no tenant named the gateway gets none (it serves nobody) and the
controller stays cluster-wide, for Executions created with kubectl where Kubernetes RBAC allows.
Call with (dict "ctx" $ "component" "gateway").
*/}}
{{- define "mcp-v8.tenantBindings" -}}
{{- $ctx := .ctx }}
{{- $name := printf "%s-%s" (include "mcp-v8.fullname" $ctx) .component }}
{{- $byLabel := ne (include "mcp-v8.tenantLabels" $ctx) "{}" }}
{{- if or $byLabel (and (not $ctx.Values.tenants) (eq .component "controller")) }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}
  labels:
    {{- include "mcp-v8.labels" $ctx | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $ctx.Release.Namespace }}
{{- else }}
{{- range $ctx.Values.tenants }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  namespace: {{ .namespace }}
  labels:
    {{- include "mcp-v8.labels" $ctx | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $ctx.Release.Namespace }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Whether the release namespace enforces PodSecurity "restricted": yes, no, or unknown (it cannot
be read at render time: `helm template`, --dry-run=client, or --create-namespace creating it).
*/}}
{{- define "mcp-v8.namespaceRestricted" -}}
{{- $ns := lookup "v1" "Namespace" "" .Release.Namespace }}
{{- if not $ns -}}
unknown
{{- else if eq (dig "metadata" "labels" "pod-security.kubernetes.io/enforce" "" $ns) "restricted" -}}
yes
{{- else -}}
no
{{- end -}}
{{- end -}}

{{/* The command that labels the release namespace for PodSecurity "restricted". */}}
{{- define "mcp-v8.restrictCommand" -}}
kubectl label namespace {{ .Release.Namespace }} pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted pod-security.kubernetes.io/audit=restricted
{{- end -}}
