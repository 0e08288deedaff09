{{/*
The servers' etcd store (server.etcd): an existing etcd (server.etcd.endpoints) or one the chart runs
(server.etcd.deploy.enabled, templates/etcd-*.yaml). Without either, each server keeps its state in
SQLite on its own volume, and there is one server.
*/}}

{{- define "meshpeer.etcdName" -}}{{ include "meshpeer.prefix" . }}-etcd{{- end -}}
{{- define "meshpeer.etcdCaSecret" -}}{{ include "meshpeer.prefix" . }}-etcd-ca{{- end -}}
{{- define "meshpeer.etcdMemberSecret" -}}{{ include "meshpeer.prefix" . }}-etcd-member{{- end -}}
{{- define "meshpeer.etcdClientSecret" -}}{{ include "meshpeer.prefix" . }}-etcd-client{{- end -}}

{{/* "true" when the servers keep their state in etcd, empty otherwise. */}}
{{- define "meshpeer.etcdStore" -}}
{{- if or .Values.server.etcd.endpoints .Values.server.etcd.deploy.enabled }}true{{ end -}}
{{- end -}}

{{/* The stable DNS name of etcd member i of the chart's etcd. Call with (dict "root" $ "index" i). */}}
{{- define "meshpeer.etcdMemberHost" -}}
{{- $name := include "meshpeer.etcdName" .root -}}
{{- printf "%s-%d.%s.%s.svc" $name (int .index) $name .root.Release.Namespace -}}
{{- end -}}

{{/* The client URLs the servers dial, comma-separated. */}}
{{- define "meshpeer.etcdEndpoints" -}}
{{- $e := .Values.server.etcd -}}
{{- if $e.deploy.enabled -}}
{{- $urls := list -}}
{{- range $i := until (int $e.deploy.replicas) -}}
{{- $urls = append $urls (printf "https://%s:2379" (include "meshpeer.etcdMemberHost" (dict "root" $ "index" $i))) -}}
{{- end -}}
{{- join "," $urls -}}
{{- else -}}
{{- join "," $e.endpoints -}}
{{- end -}}
{{- end -}}

{{/* etcd's --initial-cluster for the chart's etcd: every member's name and peer URL. */}}
{{- define "meshpeer.etcdInitialCluster" -}}
{{- $name := include "meshpeer.etcdName" . -}}
{{- $members := list -}}
{{- range $i := until (int .Values.server.etcd.deploy.replicas) -}}
{{- $members = append $members (printf "%s-%d=https://%s:2380" $name $i (include "meshpeer.etcdMemberHost" (dict "root" $ "index" $i))) -}}
{{- end -}}
{{- join "," $members -}}
{{- end -}}

{{/* The CA file, client certificate and password file the servers give meshpeer, when there are any. */}}
{{- define "meshpeer.etcdCaFile" -}}
{{- if or .Values.server.etcd.deploy.enabled .Values.server.etcd.tls.caSecret }}/meshpeer/etcd/ca/ca.crt{{ end -}}
{{- end -}}
{{- define "meshpeer.etcdClientCert" -}}
{{- if or .Values.server.etcd.deploy.enabled .Values.server.etcd.tls.certSecret }}true{{ end -}}
{{- end -}}

{{/* The server's command-line flags for the etcd store, as YAML list items. */}}
{{- define "meshpeer.etcdServerArgs" -}}
{{- $e := .Values.server.etcd }}
- --store
- etcd
- --etcd-endpoints
- {{ include "meshpeer.etcdEndpoints" . | quote }}
{{- with $e.prefix }}
- --etcd-prefix
- {{ . | quote }}
{{- end }}
{{- with include "meshpeer.etcdCaFile" . }}
- --etcd-ca-file
- {{ . }}
{{- end }}
{{- if include "meshpeer.etcdClientCert" . }}
- --etcd-cert-file
- /meshpeer/etcd/client/tls.crt
- --etcd-key-file
- /meshpeer/etcd/client/tls.key
{{- end }}
{{- if $e.auth.username }}
- --etcd-username
- {{ $e.auth.username | quote }}
- --etcd-password-file
- /meshpeer/etcd/auth/password
{{- end }}
{{- end -}}

{{/* The server container's mounts for the etcd store's certificates and password. */}}
{{- define "meshpeer.etcdServerMounts" -}}
{{- if include "meshpeer.etcdCaFile" . }}
- name: etcd-ca
  mountPath: /meshpeer/etcd/ca
  readOnly: true
{{- end }}
{{- if include "meshpeer.etcdClientCert" . }}
- name: etcd-client
  mountPath: /meshpeer/etcd/client
  readOnly: true
{{- end }}
{{- if .Values.server.etcd.auth.username }}
- name: etcd-auth
  mountPath: /meshpeer/etcd/auth
  readOnly: true
{{- end }}
{{- end -}}

{{/* The server pod's volumes for those mounts. */}}
{{- define "meshpeer.etcdServerVolumes" -}}
{{- $e := .Values.server.etcd }}
{{- if include "meshpeer.etcdCaFile" . }}
- name: etcd-ca
  secret:
    secretName: {{ ternary (include "meshpeer.etcdCaSecret" .) $e.tls.caSecret $e.deploy.enabled }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- if include "meshpeer.etcdClientCert" . }}
- name: etcd-client
  secret:
    secretName: {{ ternary (include "meshpeer.etcdClientSecret" .) $e.tls.certSecret $e.deploy.enabled }}
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- if $e.auth.username }}
- name: etcd-auth
  secret:
    secretName: {{ $e.auth.passwordSecret.name }}
    items:
      - key: {{ $e.auth.passwordSecret.key | default "password" }}
        path: password
{{- end }}
{{- end -}}

{{/*
Render-time checks of server.replicas and server.etcd. Each message names the value to change.
*/}}
{{- define "meshpeer.validateEtcd" -}}
{{- $v := .Values -}}
{{- $e := $v.server.etcd -}}
{{- if and (gt (int $v.server.replicas) 1) (not (include "meshpeer.etcdStore" .)) -}}
  {{- fail (printf "setting server.replicas to %d requires server.etcd: without it each server keeps its state in its own embedded SQLite file; set server.etcd.endpoints (an existing etcd) or server.etcd.deploy.enabled (an etcd the chart runs), or server.replicas to 1" (int $v.server.replicas)) -}}
{{- end -}}
{{- if and $e.endpoints $e.deploy.enabled -}}
  {{- fail "set either server.etcd.endpoints (an existing etcd) or server.etcd.deploy.enabled (an etcd the chart runs), not both" -}}
{{- end -}}
{{- $external := or $e.tls.caSecret $e.tls.certSecret $e.auth.username $e.auth.passwordSecret.name $e.prefix -}}
{{- if and $external (not (include "meshpeer.etcdStore" .)) -}}
  {{- fail "server.etcd.tls, server.etcd.auth and server.etcd.prefix configure the etcd store: set server.etcd.endpoints or server.etcd.deploy.enabled too" -}}
{{- end -}}
{{- if and $e.deploy.enabled (or $e.tls.caSecret $e.tls.certSecret $e.auth.username $e.auth.passwordSecret.name) -}}
  {{- fail "server.etcd.tls and server.etcd.auth are for server.etcd.endpoints: the etcd of server.etcd.deploy uses TLS certificates the chart generates" -}}
{{- end -}}
{{- if $e.endpoints -}}
  {{- $https := 0 -}}
  {{- range $e.endpoints -}}{{- if hasPrefix "https://" . -}}{{- $https = add1 $https -}}{{- end -}}{{- end -}}
  {{- if and (gt $https 0) (lt $https (len $e.endpoints)) -}}
    {{- fail (printf "server.etcd.endpoints must all be http:// or all https:// (got %s)" (join ", " $e.endpoints)) -}}
  {{- end -}}
  {{- if and (eq $https 0) (or $e.tls.caSecret $e.tls.certSecret) -}}
    {{- fail "server.etcd.tls needs https:// server.etcd.endpoints (they are http://)" -}}
  {{- end -}}
{{- end -}}
{{- if and $e.auth.username (not $e.auth.passwordSecret.name) -}}
  {{- fail "setting server.etcd.auth.username requires server.etcd.auth.passwordSecret.name (the Secret holding the etcd user's password)" -}}
{{- end -}}
{{- if and $e.auth.passwordSecret.name (not $e.auth.username) -}}
  {{- fail "setting server.etcd.auth.passwordSecret.name requires server.etcd.auth.username" -}}
{{- end -}}
{{- if and $e.deploy.enabled (eq (mod (int $e.deploy.replicas) 2) 0) -}}
  {{- fail (printf "server.etcd.deploy.replicas must be odd (1, 3, 5 or 7), got %d: an etcd of %d members survives no more lost members than one of %d" (int $e.deploy.replicas) (int $e.deploy.replicas) (sub (int $e.deploy.replicas) 1)) -}}
{{- end -}}
{{- end -}}
