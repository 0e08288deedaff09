{{/*
What `helm install` prints (NOTES.txt is only this), kept in a helper so that tests can render it with
`helm template`, which never prints NOTES.
*/}}
{{- define "meshpeer.notes" -}}
meshpeer {{ .Chart.AppVersion }} is installed as "{{ include "meshpeer.prefix" . }}" in namespace {{ .Release.Namespace }} (datacenter {{ .Values.global.datacenter }}).

Image: {{ include "meshpeer.image" . }} (server, controller{{ if .Values.meshGateway.enabled }}, mesh gateway{{ end }}).
{{- with .Values.global.image }}
Unused: global.image ({{ . }}) is consul-k8s's Consul image; meshpeer never runs it. meshpeer's
image is set with global.imageMeshpeer.
{{- end }}

Server HTTP API inside the cluster: {{ include "meshpeer.serverURL" . }}
  kubectl -n {{ .Release.Namespace }} port-forward svc/{{ include "meshpeer.serverName" . }} {{ include "meshpeer.httpPort" . }}
{{- if .Values.global.tls.enabled }}
  HTTPS only; the CA certificate is in Secret {{ include "meshpeer.caCertSecret" . }} (key tls.crt):
  kubectl -n {{ .Release.Namespace }} get secret {{ include "meshpeer.caCertSecret" . }} -o jsonpath='{.data.tls\.crt}' | base64 -d > ca.crt
  MESHPEER_HTTP_ADDR=https://localhost:{{ include "meshpeer.httpPort" . }} NODE_EXTRA_CA_CERTS=ca.crt meshpeer peering list
{{- end }}
{{- if .Values.global.acls.manageSystemACLs }}
  ACLs are on (default deny). The bootstrap (management) token is in Secret {{ include "meshpeer.bootstrapTokenSecret" . }} (key token):
  export MESHPEER_HTTP_TOKEN=$(kubectl -n {{ .Release.Namespace }} get secret {{ include "meshpeer.bootstrapTokenSecret" . }} -o jsonpath='{.data.token}' | base64 -d)
  The controller and the mesh gateways have least-privilege tokens of their own (policies
  meshpeer-controller and meshpeer-mesh-gateway), made by their acl-init init containers.
{{- end }}
{{- if include "meshpeer.etcdStore" . }}

Store: etcd, shared by {{ .Values.server.replicas }} server{{ if gt (int .Values.server.replicas) 1 }}s{{ end }}{{ if .Values.server.etcd.deploy.enabled }}; the chart runs it as StatefulSet {{ include "meshpeer.etcdName" . }} ({{ .Values.server.etcd.deploy.replicas }} members, TLS){{ else }} at {{ join ", " .Values.server.etcd.endpoints }}{{ end }}.
  The servers keep nothing on disk: server.storage and server.storageClass are unused. A server
  restarts until etcd answers (docs/etcd.md).
{{- end }}
{{- if .Values.meshGateway.enabled }}

Mesh gateway Service: {{ include "meshpeer.meshGatewayName" . }} ({{ .Values.meshGateway.service.type }}, port {{ .Values.meshGateway.service.port }}).
{{- $source := .Values.meshGateway.wanAddress.source }}
{{- if eq $source "Service" }}
Peers reach the gateways at the address of that Service ({{ if eq .Values.meshGateway.service.type "LoadBalancer" }}its LoadBalancer ingress{{ else if eq .Values.meshGateway.service.type "NodePort" }}the gateway's node address and the node port{{ else }}its cluster IP{{ end }}), which each gateway reads at start and logs ("mesh gateway WAN address").
{{- else if eq $source "Static" }}
Peers reach the gateways at {{ .Values.meshGateway.wanAddress.static }}:{{ include "meshpeer.meshGatewayWanPort" . }} (meshGateway.wanAddress.source Static).
{{- else }}
Peers reach the gateways at their node's {{ if eq $source "NodeIP" }}IP{{ else }}name{{ end }}, port {{ include "meshpeer.meshGatewayWanPort" . }} (meshGateway.wanAddress.source {{ $source }}).
{{- end }}
{{- end }}
{{- if .Values.global.peering.enabled }}

Cluster peering is enabled. To send the peering stream through the mesh gateways, apply the Mesh
resource (name "mesh", spec.peering.peerThroughMeshGateways: true) in both clusters BEFORE the
PeeringAcceptor: a token carries the addresses in force when it is generated. A token made earlier
keeps pointing at the servers; regenerate it by changing the acceptor's annotation
consul.hashicorp.com/peering-version, then copy the new token Secret to the dialing cluster.
{{- end }}
{{- $ignored := include "meshpeer.ignoredValueList" . }}
{{- if $ignored }}

Ignored: this chart does not implement these values, so they change nothing:
{{- range splitList "\n" $ignored }}
  - {{ . }}
{{- end }}
{{- end }}
{{- end -}}
