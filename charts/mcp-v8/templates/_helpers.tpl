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
{{- if .Values.tenants }}
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
{{- if .Values.policy.opaUrl }}
- name: MCP_V8_OPA_URL
  value: {{ .Values.policy.opaUrl | quote }}
{{- end }}
{{- end -}}

{{/*
Binds the component's ClusterRole: cluster-wide when no tenants are listed, else one RoleBinding
per tenant namespace (least privilege). Call with (dict "ctx" $ "component" "gateway").
*/}}
{{- define "mcp-v8.tenantBindings" -}}
{{- $ctx := .ctx }}
{{- $name := printf "%s-%s" (include "mcp-v8.fullname" $ctx) .component }}
{{- if not $ctx.Values.tenants }}
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
