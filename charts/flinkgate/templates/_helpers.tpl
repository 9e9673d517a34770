{{/* The chart name, overridable. */}}
{{- define "flinkgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name most resources are named after. Truncated to 63 characters
because it also names the Service, which must be a DNS label.
*/}}
{{- define "flinkgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "flinkgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flinkgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flinkgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The labels of the webhook's objects. */}}
{{- define "flinkgate.labels" -}}
{{ include "flinkgate.componentLabels" (list . "webhook") }}
{{- end }}

{{/*
The labels of one component's objects; the argument is (list $root $component):
webhook, appmanager (the platform's Roles) or test (the helm test hook).
commonLabels come last; the schema keeps them off the chart's own keys.
*/}}
{{- define "flinkgate.componentLabels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "flinkgate.chart" $root }}
{{ include "flinkgate.selectorLabels" $root }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/part-of: flinkgate
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The platform's ServiceAccount: the appmanager Roles bind to it and the RBAC preflight asks about it. */}}
{{- define "flinkgate.serviceAccountName" -}}
{{- default (include "flinkgate.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* The webhook's own ServiceAccount, which the pods run as. */}}
{{- define "flinkgate.webhookServiceAccountName" -}}
{{- default (printf "%s-webhook" (include "flinkgate.fullname" .)) .Values.webhook.serviceAccount.name }}
{{- end }}

{{- define "flinkgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The namespaces flinkgate serves, as a JSON list. The same list feeds
--namespaces, the webhooks' namespaceSelector and the webhook's Roles, so the
three can never disagree.
*/}}
{{- define "flinkgate.servedNamespaces" -}}
{{- if .Values.webhook.namespaces }}
{{- toJson .Values.webhook.namespaces }}
{{- else }}
{{- list .Release.Namespace | toJson }}
{{- end }}
{{- end }}

{{/* The webhook base URL without a trailing slash, or empty. */}}
{{- define "flinkgate.webhookURL" -}}
{{- trimSuffix "/" .Values.webhook.url }}
{{- end }}

{{/*
The Secret holding the serving certificate. helm and certManager modes write
<fullname>-tls (a predictable name: tools running flinkgate outside the cluster
read it); secret mode uses the user's Secret.
*/}}
{{- define "flinkgate.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" }}
{{- .Values.tls.secretName }}
{{- else }}
{{- printf "%s-tls" (include "flinkgate.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The names the serving certificate must cover, as JSON {"dns": [...], "ips": [...]}:
the Service's DNS names (the API server dials <service>.<namespace>.svc) and,
with webhook.url, the URL's host, as an IP SAN when it is an IP address.
*/}}
{{- define "flinkgate.certSANs" -}}
{{- $svc := include "flinkgate.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $dns := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) }}
{{- $ips := list }}
{{- with .Values.webhook.url }}
{{- $host := (urlParse .).hostname }}
{{- if not $host }}
{{- fail (printf "webhook.url %q has no host" .) }}
{{- end }}
{{- /* urlParse strips the brackets of an IPv6 literal, so a colon means IPv6. */}}
{{- if or (regexMatch "^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$" $host) (contains ":" $host) }}
{{- $ips = append $ips $host }}
{{- else if not (has $host $dns) }}
{{- $dns = append $dns $host }}
{{- end }}
{{- end }}
{{- dict "dns" $dns "ips" $ips | toJson }}
{{- end }}

{{/*
The webhook's clientConfig: the URL in url mode, else the Service. $path is
/mutate or /validate. The caBundle is added by the caller, which owns the TLS
material of this render.
*/}}
{{- define "flinkgate.clientConfig" -}}
{{- $root := index . 0 }}
{{- $path := index . 1 }}
{{- with include "flinkgate.webhookURL" $root }}
url: {{ printf "%s%s" . $path | quote }}
{{- else }}
service:
  name: {{ include "flinkgate.fullname" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ $path }}
  port: 443
{{- end }}
{{- end }}

{{/* cert-manager fills in the caBundle of both webhook configurations from the serving Certificate. */}}
{{- define "flinkgate.webhookAnnotations" -}}
{{- if eq .Values.tls.mode "certManager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s-tls" .Release.Namespace (include "flinkgate.fullname" .) }}
{{- end }}
{{- end }}

{{/* What both webhooks share; the argument is (list $root $path $caBundle). */}}
{{- define "flinkgate.webhookBody" -}}
{{- $root := index . 0 }}
{{- $path := index . 1 }}
{{- $caBundle := index . 2 -}}
admissionReviewVersions: ["v1"]
clientConfig:
  {{- include "flinkgate.clientConfig" (list $root $path) | trim | nindent 2 }}
  {{- with $caBundle }}
  caBundle: {{ . }}
  {{- end }}
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE", "DELETE"]
    resources: ["configmaps"]
    scope: Namespaced
# Fail closed: an unchecked DeploymentTarget change would break immutability.
failurePolicy: Fail
matchPolicy: Equivalent
sideEffects: None
timeoutSeconds: {{ $root.Values.webhook.timeoutSeconds }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: In
      values:
        {{- include "flinkgate.servedNamespaces" $root | fromJsonArray | toYaml | nindent 8 }}
# Only ConfigMaps that carry the kind label; all other ConfigMaps never reach flinkgate.
objectSelector:
  matchExpressions:
    - key: flinkgate.io/kind
      operator: Exists
# The namespace controller (kube-controller-manager with
# --use-service-account-credentials) must be able to empty a namespace being
# deleted, flinkgate's own included, after flinkgate's pods are gone; the
# in-use-protection finalizer, not this webhook, guards its deletes.
#
# An UPDATE that leaves everything flinkgate reads as it was (data,
# binaryData, immutable, the labels, the finalizers and the annotations of
# flinkgate.annotationsRead; kubectl annotate with another key, a GitOps
# tool's tracking annotation) is not sent: flinkgate would only allow it,
# since the stored object is the one it admitted. Such writes then cost no
# webhook call, and go through while flinkgate is down
# (docs/user-guide.md#what-flinkgate-sees). The annotations are named, not
# matched by prefix: a loop over every key costs the API server time that
# grows with the square of their number, and past the CEL cost limit the
# write fails. A ConfigMap whose kind label names no flinkgate kind is always
# sent: flinkgate denies its every update but the label's removal.
# With authorization.mode rbac only a user flinkgate would allow (update on
# the target or deployment of flinkgate.io, as it asks) is spared the call:
# anyone else is sent to flinkgate and denied, else any ConfigMap writer could
# annotate a deployment or give it an owner whose deletion deletes it.
matchConditions:
  - name: not-the-namespace-controller
    expression: "request.userInfo.username != 'system:serviceaccount:kube-system:namespace-controller'"
  - name: changes-what-flinkgate-reads
    expression: >-
      request.operation != 'UPDATE'
      || (has(object.data) ? object.data : {}) != (has(oldObject.data) ? oldObject.data : {})
      || (has(object.binaryData) ? object.binaryData : {}) != (has(oldObject.binaryData) ? oldObject.binaryData : {})
      || (has(object.immutable) && object.immutable) != (has(oldObject.immutable) && oldObject.immutable)
      || (has(object.metadata.labels) ? object.metadata.labels : {}) != (has(oldObject.metadata.labels) ? oldObject.metadata.labels : {})
      || (has(object.metadata.finalizers) ? object.metadata.finalizers : []) != (has(oldObject.metadata.finalizers) ? oldObject.metadata.finalizers : [])
      || !(oldObject.metadata.labels['flinkgate.io/kind'] in ['Deployment', 'DeploymentTarget'])
      {{- range include "flinkgate.annotationsRead" $root | fromJsonArray }}
      || (has(object.metadata.annotations) && {{ . | squote }} in object.metadata.annotations ? '=' + object.metadata.annotations[{{ . | squote }}] : 'absent')
         != (has(oldObject.metadata.annotations) && {{ . | squote }} in oldObject.metadata.annotations ? '=' + oldObject.metadata.annotations[{{ . | squote }}] : 'absent')
      {{- end }}
      {{- if eq $root.Values.authorization.mode "rbac" }}
      || !authorizer.group('flinkgate.io').resource(oldObject.metadata.labels['flinkgate.io/kind'] == 'DeploymentTarget' ? 'deploymenttargets' : 'deployments')
           .namespace(request.namespace).name(request.name).check('update').allowed()
      {{- end }}
{{- end }}

{{/*
The annotations flinkgate reads on its ConfigMaps, as a JSON list: an UPDATE
that changes one of them is sent to the webhooks (changes-what-flinkgate-reads).
charts' TestTheMatchConditionNamesEveryAnnotationFlinkgateReads keeps it in
step with the code.
*/}}
{{- define "flinkgate.annotationsRead" -}}
{{- list
  "flinkgate.io/namespace"
  "flinkgate.io/target-namespace"
  "flinkgate.io/flink-authorized"
  "flinkgate.io/target-uid"
  "flinkgate.io/target-resource-version"
  "flinkgate.io/resource-digest"
  "flinkgate.io/state"
  "flinkgate.io/status"
  | toJson }}
{{- end }}

{{/* The hosts of the serving certificate as a comma-separated list (self mode's --self-tls-hosts). */}}
{{- define "flinkgate.certHosts" -}}
{{- $sans := include "flinkgate.certSANs" . | fromJson }}
{{- concat $sans.dns $sans.ips | join "," }}
{{- end }}

{{/*
The PEM of webhook.clientAuth.caBundle, or empty when client authentication is
off. Fails the render on values flinkgate would refuse or could not use, so a
mistake fails the install instead of the rollout.
*/}}
{{- define "flinkgate.clientCA" -}}
{{- with .Values.webhook.clientAuth }}
{{- if and .names (not .caBundle) }}
{{- fail "webhook.clientAuth.names needs webhook.clientAuth.caBundle: flinkgate asks for a client certificate, and so checks its names, only with a CA bundle; set caBundle to the base64 PEM of the CA that signs the API server's webhook client certificate, or remove names" }}
{{- end }}
{{- with .caBundle }}
{{- $pem := b64dec . }}
{{- if not (contains "-----BEGIN CERTIFICATE-----" $pem) }}
{{- fail "webhook.clientAuth.caBundle must be the base64 encoding of PEM CA certificates (-----BEGIN CERTIFICATE-----): the CA that signs the API server's webhook client certificate, e.g. base64 -w0 ca.crt" }}
{{- end }}
{{- if contains "PRIVATE KEY-----" $pem }}
{{- fail "webhook.clientAuth.caBundle contains a private key: give only the CA certificates; the bundle is stored in a ConfigMap that anyone who may read ConfigMaps in the namespace can read" }}
{{- end }}
{{- $pem }}
{{- end }}
{{- end }}
{{- end }}

{{/* The ConfigMap holding the client CA bundle. */}}
{{- define "flinkgate.clientCAName" -}}
{{- printf "%s-client-ca" (include "flinkgate.fullname" .) }}
{{- end }}
