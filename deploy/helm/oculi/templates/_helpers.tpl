{{/* Names and labels shared by every object of the chart. */}}
{{- define "oculi.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "oculi.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "oculi.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end }}

{{/* The Secret holding the API keys (one per line) and its key. */}}
{{- define "oculi.keysSecret" -}}
{{- if .Values.existingKeysSecret }}{{ .Values.existingKeysSecret }}{{ else }}{{ include "oculi.fullname" . }}-keys{{ end }}
{{- end }}

{{/* The Secret holding the store URL and its key. */}}
{{- define "oculi.storeSecret" -}}
{{- if .Values.store.existingSecret }}{{ .Values.store.existingSecret }}{{ else }}{{ include "oculi.fullname" . }}-store{{ end }}
{{- end }}
