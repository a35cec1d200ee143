{{- define "mlflow-server.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mlflow-server.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "mlflow-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlflow-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mlflow-server.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "mlflow-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mlflow-server.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* "true" in SQLite mode: no database URI and no existing Secret holding one. */}}
{{- define "mlflow-server.sqlite" -}}
{{- if not (or .Values.database.uri .Values.database.existingSecret) }}true{{ end }}
{{- end }}

{{/* "true" when artifacts are written to a local path (the volume) rather than a store URI. */}}
{{- define "mlflow-server.localArtifacts" -}}
{{- $location := ternary .Values.artifacts.destination .Values.artifacts.defaultRoot .Values.artifacts.serve }}
{{- if or (not (contains "://" $location)) (hasPrefix "file:" $location) }}true{{ end }}
{{- end }}

{{/* "true" when the pods need the volume at /data (and so one replica and Recreate). */}}
{{- define "mlflow-server.needsVolume" -}}
{{- if or (include "mlflow-server.sqlite" .) (include "mlflow-server.localArtifacts" .) }}true{{ end }}
{{- end }}

{{/* Rendering stops on values that cannot work. */}}
{{- define "mlflow-server.validate" -}}
{{- if and .Values.database.uri .Values.database.existingSecret }}
{{- fail "database: set uri or existingSecret, not both" }}
{{- end }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- if include "mlflow-server.sqlite" . }}
{{- fail "replicaCount > 1 needs a database (database.uri or database.existingSecret): SQLite serves one replica" }}
{{- end }}
{{- if include "mlflow-server.localArtifacts" . }}
{{- fail "replicaCount > 1 needs a remote artifact store (artifacts.destination, or artifacts.defaultRoot when artifacts.serve is false, such as s3://bucket/path): local artifacts serve one replica" }}
{{- end }}
{{- if has (lower (toString (index .Values.config "MLFLOW_UPGRADE_DB" | default ""))) (list "true" "1" "yes" "on") }}
{{- fail "config.MLFLOW_UPGRADE_DB with replicaCount > 1: every pod would upgrade the shared schema at once; the migration Job (migrations.enabled) upgrades it before the pods start" }}
{{- end }}
{{- range $values := list "config" "secretEnv" }}
{{- range $name := list "MLFLOW_BACKEND_STORE_URI" "MLFLOW_ARTIFACTS_DESTINATION" "MLFLOW_DEFAULT_ARTIFACT_ROOT" }}
{{- if hasKey (index $.Values $values) $name }}
{{- fail (printf "%s.%s with replicaCount > 1: set database.uri and artifacts.destination (or artifacts.defaultRoot), which the chart checks can be shared by several replicas" $values $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- range $values := list "config" "secretEnv" }}
{{- range $name := list "MLFLOW_APP_NAME" "MLFLOW_AUTH_ADMIN_USERNAME" "MLFLOW_AUTH_ADMIN_PASSWORD" "MLFLOW_AUTH_DEFAULT_PERMISSION" "MLFLOW_AUTH_DATABASE_URI" "MLFLOW_AUTH_PROXY_HEADER" "MLFLOW_AUTH_TRUSTED_PROXIES" }}
{{- if hasKey (index $.Values $values) $name }}
{{- fail (printf "%s.%s: set authentication with the auth values (auth.enabled, auth.adminPassword or auth.existingSecret, ...), which also reach the migration Job and keep the secrets out of the ConfigMap" $values $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.auth }}
{{- if .enabled }}
{{- if and .adminPassword .existingSecret }}
{{- fail "auth: set adminPassword or existingSecret, not both" }}
{{- end }}
{{- if not (or .adminPassword .existingSecret) }}
{{- fail "auth.enabled needs the admin's password for the first start: auth.adminPassword (kept in the chart's Secret) or auth.existingSecret (an existing Secret holding it under auth.existingSecretKey)" }}
{{- end }}
{{- if and .adminPassword (lt (len (splitList "" .adminPassword)) 12) }}
{{- fail "auth.adminPassword: at least 12 characters" }}
{{- end }}
{{- if and .proxyHeader (not .trustedProxies) }}
{{- fail "auth.proxyHeader needs auth.trustedProxies: the addresses or networks of the proxies whose header is believed (from anywhere else anybody could send it)" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Secret data of the migration Job too: database URIs (the auth database's with auth on) and secretEnv. */}}
{{- define "mlflow-server.migrateSecretData" -}}
{{- with .Values.database.uri }}
MLFLOW_BACKEND_STORE_URI: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.database.registryUri }}
MLFLOW_REGISTRY_STORE_URI: {{ . | b64enc | quote }}
{{- end }}
{{- if .Values.auth.enabled }}
{{- with .Values.auth.databaseUri }}
MLFLOW_AUTH_DATABASE_URI: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.secretEnv }}
{{ $name }}: {{ toString $value | b64enc | quote }}
{{- end }}
{{- end }}

{{/* The chart's secret data: the Job's, and the admin's password with auth on (the server's only). */}}
{{- define "mlflow-server.secretData" -}}
{{- include "mlflow-server.migrateSecretData" . }}
{{- if .Values.auth.enabled }}
{{- with .Values.auth.adminPassword }}
MLFLOW_AUTH_ADMIN_PASSWORD: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Environment of the server only: the admin's password from an existing Secret. */}}
{{- define "mlflow-server.authEnv" -}}
{{- if and .Values.auth.enabled .Values.auth.existingSecret }}
- name: MLFLOW_AUTH_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.existingSecret }}
      key: {{ .Values.auth.existingSecretKey }}
{{- end }}
{{- end }}

{{/* Environment of the server and the migration Job that does not come from the ConfigMap. */}}
{{- define "mlflow-server.databaseEnv" -}}
{{- with .Values.database.existingSecret }}
- name: MLFLOW_BACKEND_STORE_URI
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.database.existingSecretKey }}
{{- end }}
- name: MLFLOW_DB_WAIT_TIMEOUT
  value: {{ .Values.database.waitTimeout | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "mlflow-server.existingSecretsEnvFrom" -}}
{{- range .Values.existingSecrets }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end }}

{{/* MLFLOW_SERVER_ALLOWED_HOSTS: allowedHosts, else loopback, the Service's names and the ingress hosts. */}}
{{- define "mlflow-server.allowedHosts" -}}
{{- $service := include "mlflow-server.fullname" . }}
{{- $namespaced := printf "%s.%s" $service .Release.Namespace }}
{{- $hosts := list "localhost" "127.0.0.1" "[::1]" $service $namespaced (printf "%s.svc" $namespaced) }}
{{- $hosts = append $hosts (printf "%s.svc.cluster.local" $namespaced) }}
{{- if .Values.ingress.enabled }}
{{- range .Values.ingress.hosts }}
{{- with .host }}{{ $hosts = append $hosts . }}{{ end }}
{{- end }}
{{- end }}
{{- join "," (.Values.allowedHosts | default $hosts | uniq) }}
{{- end }}
