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
{{- end }}
{{- end }}

{{/* The chart's secret data: database URIs and secretEnv. */}}
{{- define "mlflow-server.secretData" -}}
{{- with .Values.database.uri }}
MLFLOW_BACKEND_STORE_URI: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.database.registryUri }}
MLFLOW_REGISTRY_STORE_URI: {{ . | b64enc | quote }}
{{- end }}
{{- range $name, $value := .Values.secretEnv }}
{{ $name }}: {{ toString $value | b64enc | quote }}
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
