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
{{- define "meshpeer.controllerWebhookName" -}}{{ include "meshpeer.prefix" . }}-controller-webhook{{- end -}}
{{- define "meshpeer.authMethodName" -}}{{ include "meshpeer.prefix" . }}-k8s-auth-method{{- end -}}
{{- define "meshpeer.authMethodReviewer" -}}{{ include "meshpeer.prefix" . }}-auth-method{{- end -}}
{{/* Injected sidecars log in with the kubernetes auth method: ACLs managed and the injector on. */}}
{{- define "meshpeer.sidecarLogin" -}}
{{- if and .Values.global.acls.manageSystemACLs .Values.connectInject.injector.enabled }}true{{ end -}}
{{- end -}}
{{- define "meshpeer.meshGatewayName" -}}{{ include "meshpeer.prefix" . }}-mesh-gateway{{- end -}}

{{/* The server's HTTP API, as the controller and the gateways reach it inside the cluster. */}}
{{- define "meshpeer.serverURL" -}}
{{- if .Values.global.tls.enabled -}}
https://{{ include "meshpeer.serverName" . }}:8501
{{- else -}}
http://{{ include "meshpeer.serverName" . }}:8500
{{- end -}}
{{- end -}}

{{/* The HTTP API's port: 8501 when it is HTTPS (global.tls.enabled), 8500 otherwise, as in Consul. */}}
{{- define "meshpeer.httpPort" -}}
{{- if .Values.global.tls.enabled -}}8501{{- else -}}8500{{- end -}}
{{- end -}}

{{- define "meshpeer.caCertSecret" -}}{{ include "meshpeer.prefix" . }}-ca-cert{{- end -}}
{{- define "meshpeer.serverCertSecret" -}}{{ include "meshpeer.prefix" . }}-server-cert{{- end -}}
{{- define "meshpeer.bootstrapTokenSecret" -}}{{ include "meshpeer.prefix" . }}-bootstrap-acl-token{{- end -}}

{{/* The Secret holding a component's own ACL token. Call with (dict "root" $ "component" "controller"). */}}
{{- define "meshpeer.componentTokenSecret" -}}{{ include "meshpeer.prefix" .root }}-{{ .component }}-acl-token{{- end -}}

{{/*
What a client of the server's API (controller, gateway) needs for TLS and ACLs: environment entries, then
volumes and mounts. With TLS, Node trusts the chart's CA through NODE_EXTRA_CA_CERTS (added to its default
roots, used by fetch); with ACLs, MESHPEER_HTTP_TOKEN holds the component's own least-privilege token.
Call with (dict "root" $ "component" "controller").
*/}}
{{- define "meshpeer.clientEnv" -}}
{{- if .root.Values.global.tls.enabled }}
- name: NODE_EXTRA_CA_CERTS
  value: /meshpeer/tls/ca/tls.crt
{{- end }}
{{- if .root.Values.global.acls.manageSystemACLs }}
- name: MESHPEER_HTTP_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "meshpeer.componentTokenSecret" . }}
      key: token
{{- end }}
{{- end -}}

{{/*
With global.acls.manageSystemACLs, an init container that gives the component its least-privilege token
(policy meshpeer-<component>), using the bootstrap token, which only this container sees; as consul-k8s's
server-acl-init does for its components. Call with (dict "root" $ "component" "controller").
*/}}
{{- define "meshpeer.aclInitContainer" -}}
{{- $root := .root -}}
{{- if $root.Values.global.acls.manageSystemACLs }}
- name: acl-init
  image: {{ include "meshpeer.image" $root | quote }}
  {{- with $root.Values.global.imagePullPolicy }}
  imagePullPolicy: {{ . }}
  {{- end }}
  command:
    - meshpeer
    - acl
    - component-token
    - --component
    - {{ .component }}
    - --http-addr
    - {{ include "meshpeer.serverURL" $root | quote }}
  env:
    {{- if $root.Values.global.tls.enabled }}
    - name: NODE_EXTRA_CA_CERTS
      value: /meshpeer/tls/ca/tls.crt
    {{- end }}
    - name: MESHPEER_HTTP_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ include "meshpeer.bootstrapTokenSecret" $root }}
          key: token
    - name: MESHPEER_COMPONENT_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ include "meshpeer.componentTokenSecret" . }}
          key: token
  {{- if $root.Values.global.tls.enabled }}
  volumeMounts:
    - name: ca-cert
      mountPath: /meshpeer/tls/ca
      readOnly: true
  {{- end }}
{{- end }}
{{- end -}}

{{/*
With injected sidecars logging in (meshpeer.sidecarLogin): an init container of the controller that creates
(or updates) the kubernetes auth method and its binding rule with the bootstrap token, the reviewer being
the long-lived token of the <prefix>-auth-method service account (bound to system:auth-delegator).
*/}}
{{- define "meshpeer.authMethodInitContainer" -}}
{{- $root := . -}}
{{- if include "meshpeer.sidecarLogin" $root }}
- name: auth-method-init
  image: {{ include "meshpeer.image" $root | quote }}
  {{- with $root.Values.global.imagePullPolicy }}
  imagePullPolicy: {{ . }}
  {{- end }}
  command:
    - meshpeer
    - acl
    - auth-method
    - --name
    - {{ include "meshpeer.authMethodName" $root | quote }}
    - --reviewer-jwt-file
    - /meshpeer/auth-method/token
    - --http-addr
    - {{ include "meshpeer.serverURL" $root | quote }}
  env:
    {{- if $root.Values.global.tls.enabled }}
    - name: NODE_EXTRA_CA_CERTS
      value: /meshpeer/tls/ca/tls.crt
    {{- end }}
    - name: MESHPEER_HTTP_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ include "meshpeer.bootstrapTokenSecret" $root }}
          key: token
  volumeMounts:
    - name: auth-method-reviewer
      mountPath: /meshpeer/auth-method
      readOnly: true
    {{- if $root.Values.global.tls.enabled }}
    - name: ca-cert
      mountPath: /meshpeer/tls/ca
      readOnly: true
    {{- end }}
{{- end }}
{{- end -}}

{{- define "meshpeer.clientVolumeMounts" -}}
{{- if .Values.global.tls.enabled }}
- name: ca-cert
  mountPath: /meshpeer/tls/ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "meshpeer.clientVolumes" -}}
{{- if .Values.global.tls.enabled }}
- name: ca-cert
  secret:
    secretName: {{ include "meshpeer.caCertSecret" . }}
    items:
      - key: tls.crt
        path: tls.crt
{{- end }}
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
{{- include "meshpeer.validateEtcd" . -}}
{{- if $v.meshGateway.enabled -}}
  {{- $source := $v.meshGateway.wanAddress.source -}}
  {{- if and (eq $source "Static") (not $v.meshGateway.wanAddress.static) -}}
    {{- fail "setting meshGateway.wanAddress.source to Static requires meshGateway.wanAddress.static (the host name or IP peers dial)" -}}
  {{- end -}}
  {{- if and (has $source (list "NodeIP" "NodeName")) (eq (include "meshpeer.meshGatewayWanPort" $) "0") -}}
    {{- fail (printf "setting meshGateway.wanAddress.source to %s requires a port open on the node: set meshGateway.hostPort, meshGateway.service.type NodePort with meshGateway.service.nodePort, or meshGateway.wanAddress.port" $source) -}}
  {{- end -}}
{{- end -}}
{{- if and $v.meshGateway.service.nodePort (ne $v.meshGateway.service.type "NodePort") -}}
  {{- fail (printf "setting meshGateway.service.nodePort requires meshGateway.service.type to be NodePort (it is %s)" $v.meshGateway.service.type) -}}
{{- end -}}
{{- end -}}

{{/*
meshpeer's image. global.image is consul-k8s's Consul image and is never used here (NOTES says so):
Consul's image has no `meshpeer` command, so a consul-k8s values file would otherwise render pods that
cannot start.
*/}}
{{- define "meshpeer.image" -}}
{{- .Values.global.imageMeshpeer | default (printf "meshpeer/meshpeer:%s" .Chart.AppVersion) -}}
{{- end -}}

{{/*
The values this chart implements, as dotted paths. A path names a leaf, or a map taken whole (resources,
annotations). Every other value a user sets (consul-k8s has hundreds) is listed in NOTES as ignored;
test/helm checks that every key of values.yaml is here, so nothing the chart documents is reported.
global.image is handled apart: it is consul-k8s's, accepted and reported as unused.
*/}}
{{- define "meshpeer.implementedValues" -}}
global.name global.imageMeshpeer global.image global.imagePullPolicy global.datacenter
global.peering.enabled global.tls.enabled global.tls.caCert global.tls.caKey global.acls.manageSystemACLs
connectInject.enabled connectInject.replicas connectInject.resources connectInject.injector.enabled
connectInject.default connectInject.namespaceSelector connectInject.k8sAllowNamespaces
connectInject.k8sDenyNamespaces connectInject.sidecarProxy.engine connectInject.sidecarProxy.resources.requests.memory
connectInject.sidecarProxy.resources.requests.cpu connectInject.sidecarProxy.resources.limits.memory
connectInject.sidecarProxy.resources.limits.cpu
server.replicas server.storage server.storageClass server.resources
server.etcd.endpoints server.etcd.prefix server.etcd.tls.caSecret server.etcd.tls.certSecret
server.etcd.auth.username server.etcd.auth.passwordSecret.name server.etcd.auth.passwordSecret.key
server.etcd.deploy.enabled server.etcd.deploy.replicas server.etcd.deploy.image server.etcd.deploy.storage
server.etcd.deploy.storageClass server.etcd.deploy.resources
meshGateway.enabled meshGateway.replicas meshGateway.containerPort meshGateway.engine
meshGateway.wanAddress.source meshGateway.wanAddress.static meshGateway.wanAddress.port meshGateway.hostPort
meshGateway.service.type meshGateway.service.port meshGateway.service.nodePort meshGateway.service.annotations
meshGateway.resources
{{- end -}}

{{/*
Dotted paths of the values under .values that the chart does not implement, one per line. A map none of
whose paths is implemented is reported once, by its own path. Call with
(dict "values" .Values "prefix" "" "known" (list of implemented paths)).
*/}}
{{- define "meshpeer.ignoredValues" -}}
{{- $known := .known -}}
{{- $prefix := .prefix -}}
{{- range $key := keys .values | sortAlpha -}}
{{- $value := index $.values $key -}}
{{- $path := ternary $key (printf "%s.%s" $prefix $key) (eq $prefix "") -}}
{{- if not (has $path $known) -}}
{{- $inner := false -}}
{{- range $known -}}{{- if hasPrefix (printf "%s." $path) . -}}{{- $inner = true -}}{{- end -}}{{- end -}}
{{- if and $inner (kindIs "map" $value) -}}
{{- include "meshpeer.ignoredValues" (dict "values" $value "prefix" $path "known" $known) -}}
{{- else -}}
{{ $path }}
{{ end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The ignored values of this release as a list. */}}
{{- define "meshpeer.ignoredValueList" -}}
{{- $known := regexSplit "\\s+" (include "meshpeer.implementedValues" . | trim) -1 -}}
{{- include "meshpeer.ignoredValues" (dict "values" .Values "prefix" "" "known" $known) | trim -}}
{{- end -}}

{{/*
The port peers dial for meshGateway.wanAddress.source NodeIP, NodeName or Static (with "Service" the
gateway reads it from its Service at start). wanAddress.port when set; otherwise Static takes the Service's
port (its node port for a NodePort Service with one set), NodeIP/NodeName the port open on the node:
meshGateway.hostPort, or the Service's node port. 0 when nothing gives one (meshpeer.validate refuses it).
*/}}
{{- define "meshpeer.meshGatewayWanPort" -}}
{{- $g := .Values.meshGateway -}}
{{- $nodePort := and (eq $g.service.type "NodePort") $g.service.nodePort -}}
{{- if $g.wanAddress.port -}}{{ $g.wanAddress.port }}
{{- else if eq $g.wanAddress.source "Static" -}}{{ $nodePort | default $g.service.port }}
{{- else if $g.hostPort -}}{{ $g.hostPort }}
{{- else if $nodePort -}}{{ $nodePort }}
{{- else -}}0
{{- end -}}
{{- end -}}
