{{/*
Prefix of every resource name. global.name replaces it entirely (as in consul-k8s); otherwise it is
"<release>-meshpeer", or the release name alone when that already contains the chart's name.
values.schema.json limits global.name to 40 characters so that "<prefix>-mesh-gateway" and the
StatefulSet's pod names stay valid DNS labels; the computed default is cut to the same length.
*/}}
{{- define "meshpeer.prefix" -}}
{{- if .Values.global.name -}}
{{- .Values.global.name -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "meshpeer.serverName" -}}{{ include "meshpeer.prefix" . }}-server{{- end -}}
{{- define "meshpeer.controllerName" -}}{{ include "meshpeer.prefix" . }}-controller{{- end -}}
{{- define "meshpeer.meshGatewayName" -}}{{ include "meshpeer.prefix" . }}-mesh-gateway{{- end -}}

{{/* The server's HTTP API, as the controller and the gateways reach it inside the cluster. */}}
{{- define "meshpeer.serverURL" -}}
http://{{ include "meshpeer.serverName" . }}:8500
{{- end -}}

{{/* Labels on every object. Call with (dict "root" $ "component" "server"). */}}
{{- define "meshpeer.labels" -}}
{{ include "meshpeer.selectorLabels" . }}
app.kubernetes.io/part-of: meshpeer
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels that select one component's pods. Call with (dict "root" $ "component" "server"). */}}
{{- define "meshpeer.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
Render-time checks of value combinations. Each message names the value to change, so that
`helm install` tells the user exactly what to set. types are checked before this by
values.schema.json, so every value here already has the type it should.
*/}}
{{- define "meshpeer.validate" -}}
{{- $v := .Values -}}
{{- if $v.global.peering.enabled -}}
  {{- if not $v.connectInject.enabled -}}
    {{- fail "setting global.peering.enabled to true requires connectInject.enabled to be true" -}}
  {{- end -}}
  {{- if not $v.global.tls.enabled -}}
    {{- fail "setting global.peering.enabled to true requires global.tls.enabled to be true" -}}
  {{- end -}}
  {{- if not $v.meshGateway.enabled -}}
    {{- fail "setting global.peering.enabled to true requires meshGateway.enabled to be true" -}}
  {{- end -}}
  {{- if lt (int $v.meshGateway.replicas) 1 -}}
    {{- fail "setting global.peering.enabled to true requires meshGateway.replicas to be at least 1: a cluster needs a running mesh gateway to export services to its peers" -}}
  {{- end -}}
{{- end -}}
{{- if and $v.meshGateway.enabled (not $v.connectInject.enabled) -}}
  {{- fail "setting meshGateway.enabled to true requires connectInject.enabled to be true" -}}
{{- end -}}
{{- if gt (int $v.server.replicas) 1 -}}
  {{- fail (printf "setting server.replicas to %d is not supported yet: a meshpeer server keeps its state in an embedded SQLite file, so set server.replicas to 1" (int $v.server.replicas)) -}}
{{- end -}}
{{- if and $v.meshGateway.service.nodePort (ne $v.meshGateway.service.type "NodePort") -}}
  {{- fail (printf "setting meshGateway.service.nodePort requires meshGateway.service.type to be NodePort (it is %s)" $v.meshGateway.service.type) -}}
{{- end -}}
{{- end -}}
