package flinkop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/codec"
	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/golden"
	"flinkgate.io/flinkgate/internal/jsonvalue"
	"flinkgate.io/flinkgate/internal/patchset"
)

// GoldenDir holds one FlinkDeployment per allowed case; the e2e suite
// creates each of them in a real API server with the operator's CRDs.
const goldenDir = "testdata/golden"

// baseDocument is the smallest Deployment that translates; each case
// changes it with JSON patch operations, as a target's patch set would.
const baseDocument = `
kind: Deployment
metadata:
  name: top-speed-windowing
spec:
  deploymentTargetName: staging
  template:
    spec:
      artifact:
        kind: JAR
        jarUri: local:///opt/flink/examples/streaming/TopSpeedWindowing.jar
        flinkVersion: "1.20"
`

type translateCase struct {
	name string
	// patch is a YAML list of RFC 6902 operations applied to baseDocument.
	patch string
	// deploymentName overrides the Deployment's name.
	deploymentName string
	// noDefaultServiceAccount leaves Input.ServiceAccount empty.
	noDefaultServiceAccount bool
	// allowedServiceAccounts is Input.AllowedServiceAccounts.
	allowedServiceAccounts []string
	// notStored leaves Input.UID empty, as for a Deployment not stored yet.
	notStored bool
	// golden is the file (under goldenDir) of an allowed case.
	golden string
	// denyField and denyReason (a part of it) describe a denied case.
	denyField, denyReason string
}

var translateCases = []translateCase{
	{
		name:   "a minimal JAR deployment runs the official image of its Flink version with default resources, from the latest savepoint",
		golden: "minimal.json",
	},
	{
		name:      "a deployment not stored yet has no UID and gets no UID label",
		notStored: true,
		golden:    "not-stored-no-uid-label.json",
	},
	{
		name:   "a lower-case artifact kind jar is a JAR, as the project's examples write it",
		patch:  `[{op: replace, path: /spec/template/spec/artifact/kind, value: jar}]`,
		golden: "artifact-kind-lower-case.json",
	},
	{
		name: "the entry class and the main arguments become the job's entry class and args",
		patch: `
- {op: add, path: /spec/template/spec/artifact/entryClass, value: org.apache.flink.streaming.examples.windowing.TopSpeedWindowing}
- {op: add, path: /spec/template/spec/artifact/mainArgs, value: "--output /tmp/out --checkpointing"}`,
		golden: "entry-class-and-args.json",
	},
	{
		name: "main arguments are split like a shell splits words, keeping quoted blanks and escaped quotes",
		patch: `
- {op: add, path: /spec/template/spec/artifact/mainArgs, value: "--name \"top speed\" --sql 'SELECT \"x\"' --empty \"\" --path=a\\ b"}`,
		golden: "args-quoting.json",
	},
	{
		name:   "flink version 1.17 becomes v1_17 and the image tag 1.17",
		patch:  `[{op: replace, path: /spec/template/spec/artifact/flinkVersion, value: "1.17"}]`,
		golden: "flink-version-1-17.json",
	},
	{
		name:   "an unquoted flink version 2.0 keeps its written digits and becomes v2_0",
		patch:  `[{op: replace, path: /spec/template/spec/artifact/flinkVersion, value: 2.0}]`,
		golden: "flink-version-2-0.json",
	},
	{
		name: "the image registry, repository and tag are joined into the image",
		patch: `
- {op: add, path: /spec/template/spec/artifact/flinkImageRegistry, value: registry.example.com/flink/}
- {op: add, path: /spec/template/spec/artifact/flinkImageRepository, value: flink-jobs}
- {op: add, path: /spec/template/spec/artifact/flinkImageTag, value: 1.20.1-java17}`,
		golden: "image-registry-repository-tag.json",
	},
	{
		name:   "an image tag that is a digest is joined with an at sign",
		patch:  `[{op: add, path: /spec/template/spec/artifact/flinkImageTag, value: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]`,
		golden: "image-digest.json",
	},
	{
		name: "parallelism becomes the job's parallelism and the number of task managers their replicas",
		patch: `
- {op: add, path: /spec/template/spec/parallelism, value: 4}
- {op: add, path: /spec/template/spec/numberOfTaskManagers, value: 2}`,
		golden: "parallelism-and-task-managers.json",
	},
	{
		name: "job and task manager cpu and memory are converted from Flink's binary units to Kubernetes quantities",
		patch: `
- {op: add, path: /spec/template/spec/resources, value: {jobmanager: {cpu: 0.5, memory: 1g}, taskmanager: {cpu: 2, memory: 1536m}}}`,
		golden: "resources.json",
	},
	{
		name: "a memory size in bytes and a Kubernetes binary quantity are kept exact",
		patch: `
- {op: add, path: /spec/template/spec/resources, value: {jobmanager: {memory: 1073741824}, taskmanager: {memory: 3Gi}}}`,
		golden: "resources-bytes-and-quantity.json",
	},
	{
		name: "flink configuration values are written as strings, numbers and booleans included",
		patch: `
- {op: add, path: /spec/template/spec/flinkConfiguration, value: {taskmanager.numberOfTaskSlots: 2, execution.checkpointing.interval: 10s, pipeline.object-reuse: true}}`,
		golden: "flink-configuration.json",
	},
	{
		name: "the target's patch set adds the checkpoint and savepoint directories to the flink configuration",
		patch: `
- {op: add, path: /spec/template/spec/flinkConfiguration/state.checkpoints.dir, value: "s3://my-bucket/checkpoints"}
- {op: add, path: /spec/template/spec/flinkConfiguration/state.savepoints.dir, value: "s3://my-bucket/savepoints"}`,
		golden: "seed-patch-set.json",
	},
	{
		name: "pod labels, annotations and the node selector go into the pod template",
		patch: `
- {op: add, path: /spec/template/spec/kubernetes/pods, value: {labels: {team: fraud}, annotations: {prometheus.io/scrape: "true"}, nodeSelector: {disktype: ssd}}}`,
		golden: "pod-labels-annotations-node-selector.json",
	},
	{
		name: "pod affinity and tolerations go into the pod template's spec",
		patch: `
- op: add
  path: /spec/template/spec/kubernetes/pods
  value:
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
          - matchExpressions:
            - {key: pool, operator: In, values: [flink]}
    tolerations:
    - {key: dedicated, operator: Equal, value: flink, effect: NoSchedule}`,
		golden: "pod-affinity-tolerations.json",
	},
	{
		name: "environment variables go to the flink-main-container",
		patch: `
- op: add
  path: /spec/template/spec/kubernetes/pods
  value:
    envVars:
    - {name: REGION, value: eu-west-1}
    - name: DB_PASSWORD
      valueFrom: {secretKeyRef: {name: db, key: password}}`,
		golden: "pod-env-vars.json",
	},
	{
		name: "volume mounts become pod volumes and mounts of the flink-main-container",
		patch: `
- op: add
  path: /spec/template/spec/kubernetes/pods
  value:
    volumeMounts:
    - name: config
      volume: {name: config, configMap: {name: job-config}}
      volumeMount: {name: config, mountPath: /opt/job/config, readOnly: true}`,
		golden: "pod-volumes.json",
	},
	{
		name: "a volume and a mount without names of their own take the name of their volume mount entry",
		patch: `
- op: add
  path: /spec/template/spec/kubernetes/pods
  value:
    volumeMounts:
    - name: scratch
      volume: {emptyDir: {}}
      volumeMount: {mountPath: /scratch}`,
		golden: "pod-volumes-named-by-entry.json",
	},
	{
		name: "the pod security context and image pull secrets go into the pod template's spec",
		patch: `
- op: add
  path: /spec/template/spec/kubernetes/pods
  value:
    securityContext: {runAsNonRoot: true, runAsUser: 9999, fsGroup: 9999}
    imagePullSecrets: [{name: registry-credentials}]`,
		golden: "pod-security-context-pull-secrets.json",
	},
	{
		name:   "state SUSPENDED becomes the suspended job state and keeps the upgrade mode",
		patch:  `[{op: add, path: /spec/state, value: SUSPENDED}]`,
		golden: "state-suspended.json",
	},
	{
		name:   "state CANCELLED becomes the suspended job state with the stateless upgrade mode, stopping without a savepoint",
		patch:  `[{op: add, path: /spec/state, value: CANCELLED}]`,
		golden: "state-cancelled.json",
	},
	{
		name:   "state RUNNING becomes the running job state",
		patch:  `[{op: add, path: /spec/state, value: RUNNING}]`,
		golden: "state-running.json",
	},
	{
		name: "the stateful upgrade strategy with restore from the latest state becomes the last-state upgrade mode",
		patch: `
- {op: add, path: /spec/upgradeStrategy, value: {kind: STATEFUL}}
- {op: add, path: /spec/restoreStrategy, value: {kind: LATEST_STATE}}`,
		golden: "upgrade-last-state.json",
	},
	{
		name:   "restore strategy NONE becomes the stateless upgrade mode",
		patch:  `[{op: add, path: /spec/restoreStrategy, value: {kind: NONE}}]`,
		golden: "restore-none.json",
	},
	{
		name: "the stateless upgrade strategy with restore from the latest state becomes the last-state upgrade mode",
		patch: `
- {op: add, path: /spec/upgradeStrategy, value: {kind: STATELESS}}
- {op: add, path: /spec/restoreStrategy, value: {kind: LATEST_STATE}}`,
		golden: "stateless-latest-state.json",
	},
	{
		name:   "allowing non-restored state is passed to the job",
		patch:  `[{op: add, path: /spec/restoreStrategy, value: {kind: LATEST_SAVEPOINT, allowNonRestoredState: true}}]`,
		golden: "allow-non-restored-state.json",
	},
	{
		name:                    "a service account named in the document wins over the default",
		patch:                   `[{op: add, path: /spec/template/spec/kubernetes/serviceAccountName, value: fraud-jobs}]`,
		noDefaultServiceAccount: true,
		allowedServiceAccounts:  []string{"fraud-jobs"},
		golden:                  "service-account-from-document.json",
	},
	{
		name:   "a document that names the default service account runs with it, as if it named none",
		patch:  `[{op: add, path: /spec/template/spec/kubernetes/serviceAccountName, value: flink}]`,
		golden: "minimal.json",
	},
	{
		name: "the harmless kubernetes.* flink configuration keys are passed: the operator's per-deployment settings, cpu, limit factors, job manager replicas and a ClusterIP REST service",
		patch: `
- op: add
  path: /spec/template/spec/flinkConfiguration
  value:
    kubernetes.operator.savepoint.history.max.count: "5"
    kubernetes.operator.periodic.savepoint.interval: 6h
    kubernetes.jobmanager.cpu: 0.5
    kubernetes.taskmanager.cpu.amount: 2
    kubernetes.jobmanager.cpu.limit-factor: 2
    kubernetes.taskmanager.cpu.limit-factor: 2
    kubernetes.jobmanager.memory.limit-factor: 1.5
    kubernetes.taskmanager.memory.limit-factor: 1.5
    kubernetes.jobmanager.replicas: 2
    kubernetes.rest-service.exposed.type: ClusterIP`,
		golden: "flink-configuration-kubernetes-allowed.json",
	},
	{
		name: "secret, persistent volume claim, projected, downward API, ephemeral and CSI volumes are mounted",
		patch: `
- op: add
  path: /spec/template/spec/kubernetes/pods
  value:
    volumeMounts:
    - {name: creds, volume: {secret: {secretName: job-credentials}}, volumeMount: {mountPath: /opt/job/creds, readOnly: true}}
    - {name: state, volume: {persistentVolumeClaim: {claimName: job-state}}, volumeMount: {mountPath: /opt/job/state}}
    - {name: token, volume: {projected: {sources: [{serviceAccountToken: {path: token, expirationSeconds: 3600}}]}}, volumeMount: {mountPath: /var/run/job}}
    - {name: podinfo, volume: {downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}, volumeMount: {mountPath: /etc/podinfo}}
    - {name: scratch, volume: {ephemeral: {volumeClaimTemplate: {spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}}}, volumeMount: {mountPath: /scratch}}
    - {name: vault, volume: {csi: {driver: secrets-store.csi.k8s.io, readOnly: true}}, volumeMount: {mountPath: /mnt/vault, readOnly: true}}`,
		golden: "pod-volumes-allowed-sources.json",
	},
	{
		name: "VVP bookkeeping fields and logging are accepted and have no effect",
		patch: `
- {op: add, path: /spec/maxSavepointCreationAttempts, value: 4}
- {op: add, path: /spec/maxJobCreationAttempts, value: 4}
- {op: add, path: /spec/jobFailureExpirationTime, value: 1h}
- {op: add, path: /spec/template/spec/logging, value: {loggingProfile: default}}
- {op: add, path: /apiVersion, value: v1}`,
		golden: "vvp-bookkeeping-ignored.json",
	},

	// Denials.
	{
		name:      "a SQL script artifact is denied: a FlinkDeployment runs a JAR",
		patch:     `[{op: replace, path: /spec/template/spec/artifact/kind, value: SQLSCRIPT}]`,
		denyField: "spec.template.spec.artifact.kind", denyReason: "SQL script artifacts have no counterpart",
	},
	{
		name:      "a Python artifact is denied as not translated yet",
		patch:     `[{op: replace, path: /spec/template/spec/artifact/kind, value: PYTHON}]`,
		denyField: "spec.template.spec.artifact.kind", denyReason: "Python artifacts are not translated yet",
	},
	{
		name:      "a deployment in a session cluster is denied",
		patch:     `[{op: add, path: /spec/sessionClusterName, value: shared}]`,
		denyField: "spec.sessionClusterName", denyReason: "session clusters have no counterpart",
	},
	{
		name:      "additional dependencies are denied",
		patch:     `[{op: add, path: /spec/template/spec/artifact/additionalDependencies, value: ["s3://bucket/lib.jar"]}]`,
		denyField: "spec.template.spec.artifact.additionalDependencies", denyReason: "additional dependencies have no counterpart",
	},
	{
		name:      "upgrade strategy NONE is denied: the operator always applies a changed spec",
		patch:     `[{op: add, path: /spec/upgradeStrategy, value: {kind: NONE}}]`,
		denyField: "spec.upgradeStrategy.kind", denyReason: "the operator always applies a changed spec",
	},
	{
		name:      "the stateless upgrade strategy with restore from the latest savepoint is denied",
		patch:     `[{op: add, path: /spec/upgradeStrategy, value: {kind: STATELESS}}]`,
		denyField: "spec.upgradeStrategy.kind", denyReason: "set spec.restoreStrategy.kind to NONE",
	},
	{
		name:      "the flink configuration key kubernetes.namespace is denied because the operator sets it",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {kubernetes.namespace: other}}]`,
		denyField: "spec.template.spec.flinkConfiguration.kubernetes.namespace", denyReason: "the operator sets kubernetes.namespace itself",
	},
	{
		name:      "the flink configuration key kubernetes.cluster-id is denied because the operator sets it",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {kubernetes.cluster-id: other}}]`,
		denyField: "spec.template.spec.flinkConfiguration.kubernetes.cluster-id", denyReason: "the operator sets kubernetes.cluster-id itself",
	},
	{
		name:      "the flink configuration key high-availability.cluster-id is denied because the operator sets it",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {high-availability.cluster-id: other}}]`,
		denyField: "spec.template.spec.flinkConfiguration.high-availability.cluster-id", denyReason: "the operator sets high-availability.cluster-id itself",
	},
	{
		name:      "a flink configuration value that is a mapping is denied",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {state.backend: {type: rocksdb}}}]`,
		denyField: "spec.template.spec.flinkConfiguration.state.backend", denyReason: "must be a string, number or boolean",
	},
	{
		name:           "a deployment name with a dot is denied because it cannot be a flink cluster id",
		deploymentName: "top.speed",
		denyField:      "metadata.name", denyReason: "starting with a letter",
	},
	{
		name:           "a deployment name starting with a digit is denied",
		deploymentName: "1-top-speed",
		denyField:      "metadata.name", denyReason: "starting with a letter",
	},
	{
		name:           "a deployment name longer than 45 characters is denied",
		deploymentName: strings.Repeat("a", 46),
		denyField:      "metadata.name", denyReason: "at most 45",
	},
	{
		name:      "a flink version the operator's CRD lacks is denied with the versions it has",
		patch:     `[{op: replace, path: /spec/template/spec/artifact/flinkVersion, value: "1.12"}]`,
		denyField: "spec.template.spec.artifact.flinkVersion", denyReason: "use one of 1.13, 1.14",
	},
	{
		name:      "a missing flink version is denied",
		patch:     `[{op: remove, path: /spec/template/spec/artifact/flinkVersion}]`,
		denyField: "spec.template.spec.artifact.flinkVersion", denyReason: "is missing",
	},
	{
		name:      "a missing jar URI is denied",
		patch:     `[{op: remove, path: /spec/template/spec/artifact/jarUri}]`,
		denyField: "spec.template.spec.artifact.jarUri", denyReason: "is missing",
	},
	{
		name:      "a fractional memory size is denied",
		patch:     `[{op: add, path: /spec/template/spec/resources, value: {taskmanager: {memory: 1.5g}}}]`,
		denyField: "spec.template.spec.resources.taskmanager.memory", denyReason: "not one of Flink's memory units",
	},
	{
		name:      "a zero cpu is denied",
		patch:     `[{op: add, path: /spec/template/spec/resources, value: {jobmanager: {cpu: 0}}}]`,
		denyField: "spec.template.spec.resources.jobmanager.cpu", denyReason: "must be a positive number",
	},
	{
		name:      "main arguments with an unclosed quote are denied",
		patch:     `[{op: add, path: /spec/template/spec/artifact/mainArgs, value: "--name \"top speed"}]`,
		denyField: "spec.template.spec.artifact.mainArgs", denyReason: "never closed",
	},
	{
		name:      "a main argument holding a quoted line break is denied: the operator writes the arguments into Flink's configuration file, where it would start another key",
		patch:     `[{op: add, path: /spec/template/spec/artifact/mainArgs, value: "--x \"a\nkubernetes.taskmanager.service-account: admin\nb\""}]`,
		denyField: "spec.template.spec.artifact.mainArgs", denyReason: "control character",
	},
	{
		name:   "line breaks between main arguments separate them and are not denied",
		patch:  `[{op: add, path: /spec/template/spec/artifact/mainArgs, value: "--output /tmp/out\n--checkpointing"}]`,
		golden: "args-line-breaks.json",
	},
	{
		name:      "an entry class holding a line break is denied: it would start another key in Flink's configuration file",
		patch:     `[{op: add, path: /spec/template/spec/artifact/entryClass, value: "a.B\nkubernetes.hostnetwork.enabled: true"}]`,
		denyField: "spec.template.spec.artifact.entryClass", denyReason: "control character",
	},
	{
		name:      "a JAR URI holding a line break is denied: it would start another key in Flink's configuration file",
		patch:     `[{op: replace, path: /spec/template/spec/artifact/jarUri, value: "local:///job.jar\nkubernetes.hostnetwork.enabled: true"}]`,
		denyField: "spec.template.spec.artifact.jarUri", denyReason: "control character",
	},
	{
		name:      "an image tag holding a line break is denied: the image is written into Flink's configuration file too",
		patch:     `[{op: add, path: /spec/template/spec/artifact/flinkImageTag, value: "1.20\nkubernetes.hostnetwork.enabled: true"}]`,
		denyField: "spec.template.spec.artifact.flinkImageTag", denyReason: "control character",
	},
	{
		name:      "an image registry holding a tab is denied",
		patch:     `[{op: add, path: /spec/template/spec/artifact/flinkImageRegistry, value: "registry.example.com\t"}]`,
		denyField: "spec.template.spec.artifact.flinkImageRegistry", denyReason: "control character",
	},
	{
		name:      "an image repository holding a DEL character is denied",
		patch:     `[{op: add, path: /spec/template/spec/artifact/flinkImageRepository, value: "flink\u007f"}]`,
		denyField: "spec.template.spec.artifact.flinkImageRepository", denyReason: "control character",
	},
	{
		name:      "a pod setting flinkgate does not know is denied, naming the allowed ones",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/pods, value: {hostNetwork: true}}]`,
		denyField: "spec.template.spec.kubernetes.pods.hostNetwork", denyReason: "the fields there are labels",
	},
	{
		name:      "a misspelt template field is denied rather than dropped",
		patch:     `[{op: add, path: /spec/template/spec/paralelism, value: 2}]`,
		denyField: "spec.template.spec.paralelism", denyReason: "is not a field flinkgate can translate",
	},
	{
		name:      "template annotations are denied: they switch VVP features the operator lacks",
		patch:     `[{op: add, path: /spec/template/metadata, value: {annotations: {flink.queryable-state.enabled: "true"}}}]`,
		denyField: "spec.template.metadata", denyReason: "remove spec.template.metadata",
	},
	{
		name:      "a desired state of FINISHED is denied",
		patch:     `[{op: add, path: /spec/state, value: FINISHED}]`,
		denyField: "spec.state", denyReason: "use RUNNING, SUSPENDED or CANCELLED",
	},
	{
		name:      "a parallelism of zero is denied",
		patch:     `[{op: add, path: /spec/template/spec/parallelism, value: 0}]`,
		denyField: "spec.template.spec.parallelism", denyReason: "must be a whole number from 1",
	},
	{
		name:      "a pod label value that is not a string is denied",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/pods, value: {labels: {tier: 1}}}]`,
		denyField: "spec.template.spec.kubernetes.pods.labels.tier", denyReason: "must be a string",
	},
	{
		name:                    "a deployment without a service account in the document or a default is denied",
		noDefaultServiceAccount: true,
		denyField:               "spec.template.spec.kubernetes.serviceAccountName", denyReason: "no service account",
	},
	{
		name:      "a service account that is neither the default nor allowed is denied, naming the allowed ones",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/serviceAccountName, value: flinkgate-webhook}]`,
		denyField: "spec.template.spec.kubernetes.serviceAccountName", denyReason: `"flinkgate-webhook" is not a ServiceAccount the Flink pods may run as: the allowed ones are flink`,
	},
	{
		name:                   "a service account outside the allowlist is denied, naming the default and the allowlist",
		patch:                  `[{op: add, path: /spec/template/spec/kubernetes/serviceAccountName, value: some-admin-sa}]`,
		allowedServiceAccounts: []string{"fraud-jobs", "etl-jobs"},
		denyField:              "spec.template.spec.kubernetes.serviceAccountName", denyReason: "the allowed ones are flink, fraud-jobs, etl-jobs (--flink-service-account and --flink-allowed-service-accounts); remove serviceAccountName",
	},
	{
		name:                    "without a default and an allowlist, any named service account is denied",
		patch:                   `[{op: add, path: /spec/template/spec/kubernetes/serviceAccountName, value: fraud-jobs}]`,
		noDefaultServiceAccount: true,
		denyField:               "spec.template.spec.kubernetes.serviceAccountName", denyReason: "the allowed ones are none",
	},
	{
		name:      "the flink configuration key kubernetes.hostnetwork.enabled is denied: the network is the platform's",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {kubernetes.hostnetwork.enabled: "true"}}]`,
		denyField: "spec.template.spec.flinkConfiguration.kubernetes.hostnetwork.enabled", denyReason: "the platform controls",
	},
	{
		name:      "the flink configuration key kubernetes.jobmanager.service-account is denied: it would beat the allowed service accounts",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {kubernetes.jobmanager.service-account: admin}}]`,
		denyField: "spec.template.spec.flinkConfiguration.kubernetes.jobmanager.service-account", denyReason: "spec.template.spec.kubernetes.serviceAccountName",
	},
	{
		name:      "the flink configuration key kubernetes.secrets is denied: secrets are mounted through volume mounts",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {kubernetes.secrets: "db:/opt/db"}}]`,
		denyField: "spec.template.spec.flinkConfiguration.kubernetes.secrets", denyReason: "identity, network, secrets or pod templates",
	},
	{
		name:      "the flink configuration key kubernetes.env.secretKeyRef is denied",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {kubernetes.env.secretKeyRef: "env:DB,secret:db,key:pw"}}]`,
		denyField: "spec.template.spec.flinkConfiguration.kubernetes.env.secretKeyRef", denyReason: "remove it",
	},
	{
		name:      "the flink configuration key kubernetes.pod-template-file.default is denied",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {kubernetes.pod-template-file.default: /tmp/pod.yaml}}]`,
		denyField: "spec.template.spec.flinkConfiguration.kubernetes.pod-template-file.default", denyReason: "the platform controls",
	},
	{
		name:      "a kubernetes.* key with blanks around it is denied: Flink trims keys when it reads its configuration file",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {" kubernetes.secrets ": "db:/opt/db"}}]`,
		denyField: "spec.template.spec.flinkConfiguration. kubernetes.secrets ", denyReason: "the platform controls",
	},
	{
		name:      "a kerberos keytab path is denied: the operator would read the file from its own disk and hand it to the job manager",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {security.kerberos.login.keytab: /var/run/secrets/kubernetes.io/serviceaccount/token, security.kerberos.login.principal: x}}]`,
		denyField: "spec.template.spec.flinkConfiguration.security.kerberos.login.keytab", denyReason: "from the Flink operator's own disk",
	},
	{
		name:      "a kerberos krb5.conf path is denied: the operator would copy the file into a ConfigMap",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {security.kerberos.krb5-conf.path: /proc/self/environ}}]`,
		denyField: "spec.template.spec.flinkConfiguration.security.kerberos.krb5-conf.path", denyReason: "from the Flink operator's own disk",
	},
	{
		name:      "the deprecated key security.keytab is denied like security.kerberos.login.keytab",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {security.keytab: /etc/passwd}}]`,
		denyField: "spec.template.spec.flinkConfiguration.security.keytab", denyReason: "from the Flink operator's own disk",
	},
	{
		name:      "the deprecated key security.principal is denied like security.kerberos.login.principal",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {security.principal: x}}]`,
		denyField: "spec.template.spec.flinkConfiguration.security.principal", denyReason: "from the Flink operator's own disk",
	},
	{
		name:      "a Flink-internal $internal.* key is denied: it points the operator at its own files",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {$internal.deployment.config-dir: /var/run/secrets/kubernetes.io/serviceaccount}}]`,
		denyField: "spec.template.spec.flinkConfiguration.$internal.deployment.config-dir", denyReason: "Flink's own",
	},
	{
		name:      "an SSL keystore path is denied: the operator's REST client would read it from its own disk",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {security.ssl.rest.keystore: /var/run/secrets/kubernetes.io/serviceaccount/token}}]`,
		denyField: "spec.template.spec.flinkConfiguration.security.ssl.rest.keystore", denyReason: "from the Flink operator's own disk",
	},
	{
		name:      "a key starting with a control character is denied: Flink's configuration file reader trims it away",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {"\u0001kubernetes.hostnetwork.enabled": "true"}}]`,
		denyField: "spec.template.spec.flinkConfiguration.\\x01kubernetes.hostnetwork.enabled", denyReason: "control character",
	},
	{
		name:      "a key holding a line break is denied: it would write a second key into Flink's configuration file",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {"x\nkubernetes.taskmanager.service-account": admin}}]`,
		denyField: "spec.template.spec.flinkConfiguration.x\\nkubernetes.taskmanager.service-account", denyReason: "control character",
	},
	{
		name:      "a value holding a line break is denied: it would write a second key into Flink's configuration file",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {taskmanager.numberOfTaskSlots: "1\nkubernetes.hostnetwork.enabled: true"}}]`,
		denyField: "spec.template.spec.flinkConfiguration.taskmanager.numberOfTaskSlots", denyReason: "control character",
	},
	{
		name:      "a value holding a DEL character is denied",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {taskmanager.numberOfTaskSlots: "1\u007f"}}]`,
		denyField: "spec.template.spec.flinkConfiguration.taskmanager.numberOfTaskSlots", denyReason: "control character",
	},
	{
		name:      "a key with a character outside letters, digits, dots, dashes and underscores is denied",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {"pipeline.name: x #": y}}]`,
		denyField: "spec.template.spec.flinkConfiguration.pipeline.name: x #", denyReason: "letters, digits",
	},
	{
		name:      "a pod AppArmor annotation is denied: it would undo the security context's denial of Unconfined",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/pods, value: {annotations: {container.apparmor.security.beta.kubernetes.io/flink-main-container: unconfined}}}]`,
		denyField: "spec.template.spec.kubernetes.pods.annotations.container.apparmor.security.beta.kubernetes.io/flink-main-container", denyReason: "securityContext.appArmorProfile",
	},
	{
		name:      "a pod seccomp annotation is denied: it would undo the security context's denial of Unconfined",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/pods, value: {annotations: {seccomp.security.alpha.kubernetes.io/pod: unconfined}}}]`,
		denyField: "spec.template.spec.kubernetes.pods.annotations.seccomp.security.alpha.kubernetes.io/pod", denyReason: "securityContext.seccompProfile",
	},
	{
		name:      "a container seccomp annotation is denied",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/pods, value: {annotations: {container.seccomp.security.alpha.kubernetes.io/flink-main-container: unconfined}}}]`,
		denyField: "spec.template.spec.kubernetes.pods.annotations.container.seccomp.security.alpha.kubernetes.io/flink-main-container", denyReason: "securityContext.seccompProfile",
	},
	{
		name:      "a LoadBalancer REST service is denied: it exposes the unauthenticated REST API",
		patch:     `[{op: add, path: /spec/template/spec/flinkConfiguration, value: {kubernetes.rest-service.exposed.type: LoadBalancer}}]`,
		denyField: "spec.template.spec.flinkConfiguration.kubernetes.rest-service.exposed.type", denyReason: "only ClusterIP",
	},
	{
		name:      "a hostPath volume is denied, naming the volume sources allowed",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/pods, value: {volumeMounts: [{name: root, volume: {hostPath: {path: /}}, volumeMount: {mountPath: /host}}]}}]`,
		denyField: "spec.template.spec.kubernetes.pods.volumeMounts[0].volume.hostPath", denyReason: "the node's files",
	},
	{
		name:      "a volume source outside the allowlist is denied",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/pods, value: {volumeMounts: [{name: data, volume: {nfs: {server: nfs.example.com, path: /}}, volumeMount: {mountPath: /data}}]}}]`,
		denyField: "spec.template.spec.kubernetes.pods.volumeMounts[0].volume.nfs", denyReason: "configMap, secret, emptyDir, persistentVolumeClaim",
	},
	{
		name:      "a pod security context with sysctls is denied",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/pods, value: {securityContext: {sysctls: [{name: kernel.shm_rmid_forced, value: "1"}]}}}]`,
		denyField: "spec.template.spec.kubernetes.pods.securityContext.sysctls", denyReason: "the fields there are",
	},
	{
		name:      "a pod security context with SELinux options is denied",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/pods, value: {securityContext: {seLinuxOptions: {type: spc_t}}}}]`,
		denyField: "spec.template.spec.kubernetes.pods.securityContext.seLinuxOptions", denyReason: "the fields there are",
	},
	{
		name:      "a Localhost AppArmor profile named unconfined is denied: the node's profile of that name confines nothing",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/pods, value: {securityContext: {appArmorProfile: {type: Localhost, localhostProfile: unconfined}}}}]`,
		denyField: "spec.template.spec.kubernetes.pods.securityContext.appArmorProfile.localhostProfile", denyReason: "RuntimeDefault or Localhost",
	},
	{
		name:      "an unconfined seccomp profile is denied",
		patch:     `[{op: add, path: /spec/template/spec/kubernetes/pods, value: {securityContext: {seccompProfile: {type: Unconfined}}}}]`,
		denyField: "spec.template.spec.kubernetes.pods.securityContext.seccompProfile.type", denyReason: "RuntimeDefault or Localhost",
	},
}

func TestTranslate(t *testing.T) {
	for _, tc := range translateCases {
		t.Run(tc.name, func(t *testing.T) {
			in := input(t, tc)
			fd, err := flinkop.Translate(in)
			if tc.golden == "" {
				var d *flinkop.DenialError
				if !errors.As(err, &d) {
					t.Fatalf("want a denial of %s, got %v (object %+v)", tc.denyField, err, fd)
				}
				if d.Field != tc.denyField || !strings.Contains(d.Reason, tc.denyReason) {
					t.Errorf("denial %q\nwant field %s with a reason containing %q", err, tc.denyField, tc.denyReason)
				}
				return
			}
			if err != nil {
				t.Fatalf("translate: %v", err)
			}
			golden.Check(t, filepath.Join(goldenDir, tc.golden), encode(t, fd), "go test ./internal/flinkop -run TestTranslate -update")
		})
	}
}

// TestEveryGoldenHasACase keeps testdata/golden free of files no case
// produces: the e2e suite creates every one of them.
func TestEveryGoldenHasACase(t *testing.T) {
	used := map[string]bool{}
	for _, tc := range translateCases {
		used[tc.golden] = true
	}
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Errorf("%d golden FlinkDeployments; the issue asks for at least 25 translation cases' worth", len(files))
	}
	for _, f := range files {
		if !used[filepath.Base(f)] {
			t.Errorf("%s is produced by no case; remove it", f)
		}
	}
}

func TestTranslateIsDeterministic(t *testing.T) {
	tc := translateCases[0]
	for _, c := range translateCases {
		if c.golden == "pod-affinity-tolerations.json" {
			tc = c
		}
	}
	first := encode(t, must(flinkop.Translate(input(t, tc))))
	for range 20 {
		if got := encode(t, must(flinkop.Translate(input(t, tc)))); !bytes.Equal(got, first) {
			t.Fatalf("the same document translated differently:\n%s\n%s", first, got)
		}
	}
}

func must(fd *flinkop.FlinkDeployment, err error) *flinkop.FlinkDeployment {
	if err != nil {
		panic(err)
	}
	return fd
}

func input(t *testing.T, tc translateCase) flinkop.Input {
	t.Helper()
	doc, err := codec.Decode(context.Background(), baseDocument)
	if err != nil {
		t.Fatalf("decode the base document: %v", err)
	}
	tree := doc.Tree
	if tc.patch != "" {
		p, err := codec.Decode(context.Background(), "ops:\n"+indent(tc.patch))
		if err != nil {
			t.Fatalf("decode the case's patch: %v", err)
		}
		ops, err := patchset.Parse(p.Tree["ops"])
		if err != nil {
			t.Fatalf("parse the case's patch: %v", err)
		}
		after, err := patchset.Apply(context.Background(), tree, ops, patchset.Limits{MaxBytes: codec.MaxDocumentBytes, MaxValues: codec.MaxValues})
		if err != nil {
			t.Fatalf("apply the case's patch: %v", err)
		}
		tree = after.(map[string]any)
	}
	in := flinkop.Input{
		Namespace: "flink-platform", Name: "top-speed-windowing", UID: "5f0c6b8e-2d7a-4c1e-9a3b-7e4d2f1a0c9b",
		Tree: tree, TargetNamespace: "staging", ServiceAccount: "flink",
	}
	if tc.deploymentName != "" {
		in.Name = tc.deploymentName
	}
	if tc.noDefaultServiceAccount {
		in.ServiceAccount = ""
	}
	in.AllowedServiceAccounts = tc.allowedServiceAccounts
	if tc.notStored {
		in.UID = ""
	}
	return in
}

func indent(s string) string {
	s = strings.TrimPrefix(s, "\n")
	if strings.HasPrefix(s, "[") {
		return "  " + s + "\n"
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ") + "\n"
}

func encode(t *testing.T, fd *flinkop.FlinkDeployment) []byte {
	t.Helper()
	b, err := json.MarshalIndent(fd, "", "  ")
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return append(b, '\n')
}

func TestTranslateLeavesTheDocumentAsItWas(t *testing.T) {
	for _, tc := range translateCases {
		if tc.golden == "" {
			continue
		}
		in := input(t, tc)
		before := input(t, tc).Tree
		if _, err := flinkop.Translate(in); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !jsonvalue.Equal(before, in.Tree) {
			t.Errorf("%s: translating changed the document", tc.name)
		}
	}
}
