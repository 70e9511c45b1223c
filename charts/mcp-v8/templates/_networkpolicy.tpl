{{/*
Helpers of the runner NetworkPolicy (networkpolicy.yaml) and of the notes that warn about what
it leaves closed (NOTES.txt).
*/}}

{{/*
The namespace of an in-cluster service a runner pod connects to: the rule's own `namespace`
when set, else the one its URL names — a bare Service name (`nats:4222`: the release
namespace) or `<service>.<namespace>.svc[.<cluster domain>]`. Empty when the URL names no
in-cluster Service (an IP address, an outside host, AWS S3): the policy then opens nothing for
it. Call with (dict "ctx" $ "url" <url> "rule" <networkPolicy.<service>>).
*/}}
{{- define "mcp-v8.serviceNamespace" -}}
{{- if .rule.namespace -}}
{{- .rule.namespace -}}
{{- else if .url -}}
{{- $host := (urlParse (trim (first (splitList "," .url)))).hostname | default "" -}}
{{- if regexMatch `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$` $host -}}
{{- .ctx.Release.Namespace -}}
{{- else if regexMatch `^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\.svc(\..+)?$` $host -}}
{{- index (splitList "." $host) 1 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The in-cluster services runner pods connect to, as JSON {name: {namespace, url}}: NATS
(nats.url), S3 (s3.endpoint) and OPA (policy.opaUrl, the server the runner pools' policy
sources name); each name is also the key of its rule under networkPolicy. `namespace` is empty
when no rule can be rendered for it.
*/}}
{{- define "mcp-v8.runnerServices" -}}
{{- $np := .Values.networkPolicy }}
{{- $out := dict }}
{{- range $name, $url := dict "nats" .Values.nats.url "s3" .Values.s3.endpoint "opa" .Values.policy.opaUrl }}
{{- $rule := index $np $name }}
{{- $ns := include "mcp-v8.serviceNamespace" (dict "ctx" $ "url" $url "rule" $rule) }}
{{- $_ := set $out $name (dict "namespace" $ns "url" $url) }}
{{- end }}
{{- $out | toJson }}
{{- end -}}

{{/* 2^n, for n from 0 to 32. */}}
{{- define "mcp-v8.pow2" -}}
{{- $v := 1 }}
{{- range until (int .) }}{{ $v = mul $v 2 }}{{ end }}
{{- $v }}
{{- end -}}

{{/*
The private and link-local ranges strictly inside an IPv4 or IPv6 CIDR, as a JSON list: what its
ipBlock must except. A CIDR that lies inside one of them (a private address named on purpose)
contains none, so nothing is excepted from it; Kubernetes requires each `except` to be a strict
subset of `cidr` anyway. Call with the CIDR string.
*/}}
{{- define "mcp-v8.privateExcepts" -}}
{{- $cidr := . }}
{{- $parts := splitList "/" $cidr }}
{{- if or (ne (len $parts) 2) (not (regexMatch `^[0-9]{1,3}$` (last $parts))) }}
{{- fail (printf "networkPolicy.external: %q is not a CIDR (address/prefix length)" $cidr) }}
{{- end }}
{{- $addr := lower (first $parts) }}
{{- $bits := atoi (last $parts) }}
{{- $out := list }}
{{- if contains ":" $addr }}
{{- /* IPv6: fc00::/7 and fe80::/10 lie in the first 16 bits, so the first group decides. */}}
{{- if or (gt $bits 128) (not (regexMatch `^[0-9a-f:.]+$` $addr)) }}
{{- fail (printf "networkPolicy.external: %q is not an IPv6 CIDR" $cidr) }}
{{- end }}
{{- $group := first (splitList ":" $addr) }}
{{- $hex := dict "0" 0 "1" 1 "2" 2 "3" 3 "4" 4 "5" 5 "6" 6 "7" 7 "8" 8 "9" 9 "a" 10 "b" 11 "c" 12 "d" 13 "e" 14 "f" 15 }}
{{- $first := 0 }}
{{- range $c := splitList "" $group }}{{ $first = add (mul $first 16) (index $hex $c) }}{{ end }}
{{- range $r := list (list "fc00::/7" 64512 7) (list "fe80::/10" 65152 10) }}
{{- if and (lt $bits (index $r 2)) (le $bits 16) }}
{{- $unit := atoi (include "mcp-v8.pow2" (sub 16 $bits)) }}
{{- if eq (div $first $unit) (div (index $r 1) $unit) }}{{ $out = append $out (index $r 0) }}{{ end }}
{{- end }}
{{- end }}
{{- else }}
{{- $octets := splitList "." $addr }}
{{- if or (gt $bits 32) (ne (len $octets) 4) (not (regexMatch `^[0-9]{1,3}(\.[0-9]{1,3}){3}$` $addr)) }}
{{- fail (printf "networkPolicy.external: %q is not an IPv4 or IPv6 CIDR" $cidr) }}
{{- end }}
{{- $n := 0 }}
{{- range $o := $octets }}
{{- if gt (atoi $o) 255 }}{{ fail (printf "networkPolicy.external: %q is not an IPv4 or IPv6 CIDR" $cidr) }}{{ end }}
{{- $n = add (mul $n 256) (atoi $o) }}
{{- end }}
{{- $unit := atoi (include "mcp-v8.pow2" (sub 32 $bits)) }}
{{- range $r := list (list "10.0.0.0/8" 167772160 8) (list "172.16.0.0/12" 2886729728 12) (list "192.168.0.0/16" 3232235520 16) (list "169.254.0.0/16" 2851995648 16) }}
{{- if and (lt $bits (index $r 2)) (eq (div $n $unit) (div (index $r 1) $unit)) }}
{{- $out = append $out (index $r 0) }}
{{- end }}
{{- end }}
{{- end }}
{{- $out | toJson }}
{{- end -}}

{{/* Fails unless a rule names its ports: a NetworkPolicy rule without ports opens every port. */}}
{{- define "mcp-v8.requirePorts" -}}
{{- if not .ports }}
{{- fail (printf "networkPolicy.%s needs ports (a rule without ports opens every port)" .name) }}
{{- end }}
{{- end -}}
