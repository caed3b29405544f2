{{/* Names and labels shared by every template. */}}
{{- define "bgjobs.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bgjobs.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "bgjobs.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bgjobs.serviceAccountName" -}}
{{- default (include "bgjobs.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "bgjobs.redisSecret" -}}
{{- default (printf "%s-redis" (include "bgjobs.fullname" .)) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{- define "bgjobs.redisUrl" -}}
{{- if .Values.redis.enabled -}}
redis://{{ include "bgjobs.fullname" . }}-redis.{{ .Release.Namespace }}.svc:6379/0
{{- else if .Values.redis.sentinel.addresses -}}
{{- .Values.redis.url | default "redis://sentinel/0" -}}
{{- else -}}
{{- required "redis.url (or redis.sentinel.addresses) is required when redis.enabled is false" .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{- define "bgjobs.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "bgjobs.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}
