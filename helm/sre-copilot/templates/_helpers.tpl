{{/*
Names, labels and the pieces the web and scheduler pods share.
*/}}

{{/* Chart name, at most 63 characters (DNS label). */}}
{{- define "sre-copilot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name when it already contains the
chart name; at most 63 characters.
*/}}
{{- define "sre-copilot.fullname" -}}
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

{{/* chart label: name-version */}}
{{- define "sre-copilot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels of every resource. */}}
{{- define "sre-copilot.labels" -}}
helm.sh/chart: {{ include "sre-copilot.chart" . }}
{{ include "sre-copilot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels (add app.kubernetes.io/component per workload). */}}
{{- define "sre-copilot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sre-copilot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Label of the Services the ServiceMonitor scrapes (web, scheduler metrics; not Chroma). */}}
{{- define "sre-copilot.metricsLabels" -}}
sre-copilot/metrics: "true"
{{- end }}

{{- define "sre-copilot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sre-copilot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pods read: an existing one, or the chart's own. */}}
{{- define "sre-copilot.secretName" -}}
{{- default (include "sre-copilot.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "sre-copilot.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the remediation policy ConfigMap is mounted, and the file in it. */}}
{{- define "sre-copilot.policyDir" -}}
/etc/sre-copilot/policy
{{- end }}

{{- define "sre-copilot.dataDir" -}}
/var/lib/sre-copilot
{{- end }}

{{/*
Pod template annotations: checksums of the rendered ConfigMaps (and of the chart's
own Secret), so a changed setting rolls the pods.
*/}}
{{- define "sre-copilot.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/jobs: {{ include (print $.Template.BasePath "/configmap-jobs.yaml") . | sha256sum }}
checksum/policy: {{ include (print $.Template.BasePath "/configmap-policy.yaml") . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/* envFrom of the sre-copilot containers: plain settings and job schedules. */}}
{{- define "sre-copilot.envFrom" -}}
- configMapRef:
    name: {{ include "sre-copilot.fullname" . }}-config
- configMapRef:
    name: {{ include "sre-copilot.fullname" . }}-jobs
{{- end }}

{{/* Secret settings, always by reference (never a literal value). */}}
{{- define "sre-copilot.secretEnv" -}}
{{- $secret := include "sre-copilot.secretName" . }}
{{- range $env, $key := .Values.secrets.env }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key | quote }}
      optional: true
{{- end }}
{{- end }}

{{/* Volumes of the sre-copilot pods. */}}
{{- define "sre-copilot.volumes" -}}
- name: data
  emptyDir:
    sizeLimit: {{ .Values.dataSizeLimit }}
- name: tmp
  emptyDir: {}
- name: remediation-policy
  configMap:
    name: {{ include "sre-copilot.fullname" . }}-remediation-policy
{{- end }}

{{- define "sre-copilot.volumeMounts" -}}
- name: data
  mountPath: {{ include "sre-copilot.dataDir" . }}
- name: tmp
  mountPath: /tmp
- name: remediation-policy
  mountPath: {{ include "sre-copilot.policyDir" . }}
  readOnly: true
{{- end }}

{{/* Scheduling, identity and security shared by the web and scheduler pods. */}}
{{- define "sre-copilot.podCommon" -}}
serviceAccountName: {{ include "sre-copilot.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Host of the Chroma server the pods use; empty for a local Chroma directory. */}}
{{- define "sre-copilot.chromaHost" -}}
{{- if .Values.chroma.enabled }}
{{- include "sre-copilot.fullname" . }}-chroma
{{- else }}
{{- .Values.vectorStore.externalHost }}
{{- end }}
{{- end }}
