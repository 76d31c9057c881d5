package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Each case is a manifest in which the lines ending in "# <-" are where the
// rule must report, at the column of the line's field, and nowhere else. A
// case without a marker is a good case: the rule must stay silent.
type ruleCase struct {
	name string
	rule string
	yaml string
}

// job wraps a pod spec (indented for it) in an otherwise clean Job.
func job(podSpec string) string {
	return `apiVersion: batch/v1
kind: Job
metadata:
  name: j
spec:
  backoffLimit: 2
  activeDeadlineSeconds: 60
  ttlSecondsAfterFinished: 60
  template:
    spec:
` + podSpec
}

// pod is a clean pod spec for job, with extra lines for the container.
func pod(container string) string {
	return `      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: w
        image: example.com/w:1.0
        resources:
          requests: {cpu: 10m, memory: 16Mi}
          limits: {cpu: 100m, memory: 64Mi}
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
` + container
}

// readOnlyPod is pod with a read-only root filesystem.
func readOnlyPod(container string) string {
	return strings.Replace(pod(container), "allowPrivilegeEscalation: false\n", "allowPrivilegeEscalation: false\n          readOnlyRootFilesystem: true\n", 1)
}

var ruleCases = []ruleCase{
	// credentials-in-url
	{name: "article broker url", rule: "credentials-in-url", yaml: job(pod(`        env:
        - name: BROKER_URL
          value: amqp://guest:guest@rabbitmq-service:5672 # <-
`))},
	{name: "token as user in any variable", rule: "credentials-in-url", yaml: job(pod(`        env:
        - name: REPO
          value: https://ghp_abc@github.com/o/r.git # <-
`))},
	{name: "credentials in args", rule: "credentials-in-url", yaml: job(pod(`        args:
        - --broker
        - amqps://user:s3cret@broker:5671 # <-
`))},
	{name: "url without userinfo, or with only variable references", rule: "credentials-in-url", yaml: job(pod(`        env:
        - name: BROKER_URL
          value: amqp://rabbitmq-service:5672/vhost?x=a@b
        - name: AUTHED_URL
          value: amqp://$(BROKER_USER):$(BROKER_PASSWORD)@rabbitmq-service:5672
        - name: MAIL
          value: ops@example.com
`))},

	// env-secret-literal
	{name: "literal password", rule: "env-secret-literal", yaml: job(pod(`        env:
        - name: RABBITMQ_DEFAULT_PASS
          value: hunter2 # <-
        - name: PGPASSWORD
          value: hunter2 # <-
        - name: GITHUB_TOKEN
          value: ghp_123 # <-
`))},
	{name: "secret from secretKeyRef, file path, variable reference", rule: "env-secret-literal", yaml: job(pod(`        env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
        - name: DB_PASSWORD_FILE
          value: /run/secrets/db
        - name: API_TOKEN
          value: $(OTHER_TOKEN)
        - name: SECRET_NAME
          value: db
        - name: DB_PASSWORD
          value: ""
`))},

	{name: "secret words, not substrings; values that are no secret", rule: "env-secret-literal", yaml: job(pod(`        env:
        - name: MAX_TOTAL_TOKENS
          value: "2048"
        - name: MYSQL_ALLOW_EMPTY_PASSWORD
          value: "1"
        - name: GOOGLE_APPLICATION_CREDENTIALS
          value: /var/secrets/key.json
        - name: SECRET_VERSION
          value: latest
        - name: PASSWORD_MIN_LENGTH
          value: "12"
        - name: AUTH_TOKEN_AUDIENCE
          value: api
        - name: ADMIN_PASSWORD
          value: changeme
        - name: API_KEY
          value: ${API_KEY}
        - name: PASSENGER_COUNT
          value: seven
        - name: DB_PASSWORD
          value: <your password>
        - name: TOKEN_ENDPOINT
          value: https://auth.example.com/token
        - name: SECRET_KEY_BASE
          value: "v1.2.3"
        - name: dbPassword
          value: s3cr3t # <-
        - name: DJANGO_SECRET_KEY
          value: x8#kd92m!sk # <-
        - name: DB_PASS
          value: hunter2 # <-
        - name: authToken
          value: abcdef123456 # <-
`))},

	// guest-user
	{name: "guest user variable", rule: "guest-user", yaml: job(pod(`        env:
        - name: RABBITMQ_DEFAULT_USER
          value: guest # <-
        - name: URL
          value: amqp://guest@broker # <-
`))},
	{name: "own user", rule: "guest-user", yaml: job(pod(`        env:
        - name: RABBITMQ_DEFAULT_USER
          value: worker
        - name: GREETING
          value: guest
`))},

	// image-tag
	{name: "untagged, latest, registry port only", rule: "image-tag", yaml: job(`      restartPolicy: Never
      initContainers:
      - name: a
        image: busybox # <-
      containers:
      - name: b
        image: example.com/w:latest # <-
      - name: c
        image: localhost:5000/w # <-
`)},
	{name: "tag, digest, registry port and tag", rule: "image-tag", yaml: job(`      restartPolicy: Never
      containers:
      - name: a
        image: rabbitmq:4.1.4-management
      - name: b
        image: example.com/w@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
      - name: c
        image: localhost:5000/w:v2
      - name: d
        image: w:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
`)},

	// container-requests, container-limits
	{name: "no resources", rule: "container-requests", yaml: job(`      restartPolicy: Never
      containers:
      - name: w # <-
        image: w:1
`)},
	{name: "memory request missing", rule: "container-requests", yaml: job(`      restartPolicy: Never
      containers:
      - name: w
        image: w:1
        resources:
          requests: # <-
            cpu: 1
`)},
	{name: "limits missing", rule: "container-limits", yaml: job(`      restartPolicy: Never
      initContainers:
      - name: i
        image: w:1
        resources: # <-
          requests: {cpu: 1, memory: 1Gi}
      containers:
      - name: w
        image: w:1
        resources:
          limits: {cpu: 1, memory: 1Gi}
`)},
	{name: "requests and limits set", rule: "container-limits", yaml: job(pod(""))},
	{name: "requests set", rule: "container-requests", yaml: job(pod(""))},

	// pss-*
	{name: "host namespaces", rule: "pss-host-namespaces", yaml: job(`      hostNetwork: true # <-
      hostPID: true # <-
      hostIPC: false
` + pod(""))},
	{name: "no host namespaces", rule: "pss-host-namespaces", yaml: job(pod(""))},
	{name: "privileged", rule: "pss-privileged", yaml: job(pod(`      - name: p
        image: p:1
        securityContext:
          privileged: true # <-
`))},
	{name: "host process", rule: "pss-host-process", yaml: job(pod(`      - name: p
        image: p:1
        securityContext:
          windowsOptions:
            hostProcess: true # <-
`))},
	{name: "hostPath volume", rule: "pss-volume-types", yaml: job(pod(`      volumes:
      - name: ok
        emptyDir: {}
      - name: host
        hostPath: # <-
          path: /var/run
`))},
	{name: "allowed volumes", rule: "pss-volume-types", yaml: job(pod(`      volumes:
      - {name: a, emptyDir: {}}
      - {name: b, configMap: {name: c}}
      - {name: c, secret: {secretName: s}}
      - {name: d, projected: {sources: []}}
      - {name: e, persistentVolumeClaim: {claimName: p}}
`))},
	{name: "host port", rule: "pss-host-ports", yaml: job(pod(`        ports:
        - containerPort: 80
          hostPort: 8080 # <-
`))},
	{name: "capabilities kept and added", rule: "pss-capabilities", yaml: job(`      restartPolicy: Never
      containers:
      - name: a # <-
        image: a:1
      - name: b
        image: b:1
        securityContext:
          capabilities:
            drop: [NET_RAW] # <-
            add:
            - NET_BIND_SERVICE
            - SYS_ADMIN # <-
`)},
	{name: "capabilities on windows are exempt", rule: "pss-capabilities", yaml: job(`      restartPolicy: Never
      os: {name: windows}
      containers:
      - name: a
        image: a:1
`)},
	{name: "privilege escalation", rule: "pss-allow-privilege-escalation", yaml: job(`      restartPolicy: Never
      containers:
      - name: a # <-
        image: a:1
      - name: b
        image: b:1
        securityContext:
          allowPrivilegeEscalation: true # <-
`)},
	{name: "run as non-root missing", rule: "pss-run-as-non-root", yaml: job(`      restartPolicy: Never
      containers:
      - name: a # <-
        image: a:1
      - name: b
        image: b:1
        securityContext:
          runAsNonRoot: true
`)},
	{name: "run as non-root false", rule: "pss-run-as-non-root", yaml: job(`      restartPolicy: Never
      securityContext:
        runAsNonRoot: true
      containers:
      - name: b
        image: b:1
        securityContext:
          runAsNonRoot: false # <-
`)},
	{name: "run as root user", rule: "pss-run-as-user", yaml: job(`      restartPolicy: Never
      securityContext:
        runAsUser: 0 # <-
      containers:
      - name: b
        image: b:1
        securityContext:
          runAsUser: 0 # <-
      - name: c
        image: c:1
        securityContext:
          runAsUser: 1000
`)},
	{name: "seccomp missing and unconfined", rule: "pss-seccomp", yaml: job(`      restartPolicy: Never
      containers:
      - name: a # <-
        image: a:1
      - name: b
        image: b:1
        securityContext:
          seccompProfile:
            type: Unconfined # <-
`)},
	{name: "seccomp per container", rule: "pss-seccomp", yaml: job(`      restartPolicy: Never
      containers:
      - name: b
        image: b:1
        securityContext:
          seccompProfile: {type: Localhost, localhostProfile: p.json}
`)},
	{name: "proc mount", rule: "pss-proc-mount", yaml: job(pod(`      - name: u
        image: u:1
        securityContext:
          procMount: Unmasked # <-
`))},
	{name: "unsafe sysctl", rule: "pss-sysctls", yaml: job(`      restartPolicy: Never
      securityContext:
        sysctls:
        - {name: net.ipv4.tcp_syncookies, value: "1"}
        - name: kernel.msgmax # <-
          value: "65536"
      containers:
      - {name: a, image: a:1}
`)},
	{name: "selinux user", rule: "pss-selinux", yaml: job(pod(`      - name: s
        image: s:1
        securityContext:
          seLinuxOptions: # <-
            user: system_u
      - name: t
        image: t:1
        securityContext:
          seLinuxOptions: {type: container_t, level: "s0:c123,c456"}
`))},
	{name: "apparmor unconfined", rule: "pss-apparmor", yaml: job(pod(`      - name: s
        image: s:1
        securityContext:
          appArmorProfile:
            type: Unconfined # <-
`))},
	{name: "restricted pod passes every control", rule: "pss-seccomp", yaml: job(pod(""))},

	// container-read-only-root-filesystem
	{name: "root filesystem writable", rule: "container-read-only-root-filesystem", yaml: job(readOnlyPod(`      - name: b
        image: b:1
        securityContext:
          readOnlyRootFilesystem: false # <-
`))},
	{name: "root filesystem read-only", rule: "container-read-only-root-filesystem", yaml: job(readOnlyPod(""))},

	// container-env-duplicate
	{name: "a secretKeyRef overridden by a later literal", rule: "container-env-duplicate", yaml: job(pod(`        env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
        - name: QUEUE
          value: q
        - name: DB_PASSWORD # <-
          value: ""
`))},
	{name: "distinct env names", rule: "container-env-duplicate", yaml: job(pod(`        env:
        - {name: A, value: "1"}
        - {name: B, value: "1"}
`))},

	// pod-field-types
	{name: "security fields as strings, command as a string", rule: "pod-field-types", yaml: job(`      restartPolicy: Never
      hostNetwork: "true" # <-
      automountServiceAccountToken: "false" # <-
      securityContext:
        runAsUser: "1000" # <-
      containers:
      - name: a
        image: a:1
        command: sh -c x # <-
        securityContext:
          privileged: "true" # <-
          runAsNonRoot: yes # <-
`)},
	{name: "containers as a map", rule: "pod-field-types", yaml: `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: # <-
    a: {image: a:1}
`},
	{name: "fields of the right types", rule: "pod-field-types", yaml: job(pod(`        command: [sh, -c, x]
        args: []
`))},

	// automount-service-account-token
	{name: "token mounted by default", rule: "automount-service-account-token", yaml: `apiVersion: v1
kind: Pod
metadata: {name: p}
spec: # <-
  containers:
  - {name: a, image: a:1}
`},
	{name: "token mounted explicitly is a choice", rule: "automount-service-account-token", yaml: job(`      restartPolicy: Never
      automountServiceAccountToken: true
      containers:
      - {name: a, image: a:1}
`)},
	{name: "token not mounted", rule: "automount-service-account-token", yaml: job(pod(""))},

	// job rules
	{name: "restartPolicy missing", rule: "job-restart-policy", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  template:
    spec: # <-
      containers:
      - {name: a, image: a:1}
`},
	{name: "restartPolicy Always", rule: "job-restart-policy", yaml: job(`      restartPolicy: Always # <-
      containers:
      - {name: a, image: a:1}
`)},
	{name: "restartPolicy OnFailure", rule: "job-restart-policy", yaml: job(`      restartPolicy: OnFailure
      containers:
      - {name: a, image: a:1}
`)},
	{name: "podFailurePolicy with OnFailure", rule: "job-pod-failure-policy", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  podFailurePolicy: # <-
    rules:
    - action: FailJob
      onExitCodes: {operator: In, values: [2]}
  template:
    spec:
      restartPolicy: OnFailure
      containers:
      - {name: a, image: a:1}
`},
	{name: "podFailurePolicy with Never", rule: "job-pod-failure-policy", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  podFailurePolicy:
    rules: []
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "a work-queue Job without podFailurePolicy", rule: "job-pod-failure-policy-missing", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec: # <-
  completions: 8
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "a single-pod Job needs none", rule: "job-pod-failure-policy-missing", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  completions: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "an Indexed Job without backoffLimitPerIndex", rule: "job-indexed-backoff-per-index", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  completions: 8
  completionMode: Indexed # <-
  backoffLimit: 6
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "an Indexed Job with backoffLimitPerIndex", rule: "job-indexed-backoff-per-index", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  completions: 8
  completionMode: Indexed
  backoffLimitPerIndex: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "parallelism above completions", rule: "job-parallelism", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  completions: 8
  parallelism: 10 # <-
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "parallelism within completions, or a work queue without completions", rule: "job-parallelism", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  completions: 8
  parallelism: 8
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
---
apiVersion: batch/v1
kind: Job
metadata: {name: k}
spec:
  parallelism: 8
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "limits unset", rule: "job-backoff-limit", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec: # <-
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "deadline unset", rule: "job-active-deadline", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec: # <-
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "ttl unset in a CronJob's Job", rule: "job-ttl-after-finished", yaml: `apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec: # <-
      template:
        spec:
          restartPolicy: Never
          containers:
          - {name: a, image: a:1}
`},
	{name: "job limits set", rule: "job-ttl-after-finished", yaml: job(pod(""))},

	// settings the API server rejects
	{name: "counts out of range", rule: "job-counts", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  completions: -1 # <-
  parallelism: "2" # <-
  backoffLimit: 0
  activeDeadlineSeconds: 0 # <-
  ttlSecondsAfterFinished: 1.5 # <-
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "counts in range", rule: "job-counts", yaml: job(pod(""))},
	{name: "indexed without completions", rule: "job-indexed-completions", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  completionMode: Indexed # <-
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "indexed with completions", rule: "job-indexed-completions", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  completionMode: Indexed
  completions: 3
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: a, image: a:1}
`},
	{name: "image missing", rule: "container-image-required", yaml: job(`      restartPolicy: Never
      containers:
      - name: a # <-
      - name: b
        image: b:1
`)},
	{name: "images present", rule: "container-image-required", yaml: job(pod(""))},
	{name: "deployment restarting OnFailure", rule: "workload-restart-policy", yaml: `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      restartPolicy: OnFailure # <-
      containers:
      - {name: c, image: c:1}
`},
	{name: "deployment restarting Always, Job restarting Never", rule: "workload-restart-policy", yaml: `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      restartPolicy: Always
      containers:
      - {name: c, image: c:1}
---
` + job(pod(""))},

	// objects
	{name: "replication controller", rule: "deprecated-replication-controller", yaml: `apiVersion: v1
kind: ReplicationController # <-
metadata: {name: rabbitmq-controller}
spec:
  replicas: 1
  template:
    metadata:
      labels: {app: taskQueue}
    spec:
      containers:
      - {name: c, image: rabbitmq}
`},
	{name: "deployment", rule: "deprecated-replication-controller", yaml: `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
      - {name: c, image: c:1}
`},
	{name: "article deployment api version", rule: "api-version-removed", yaml: `apiVersion: extensions/v1beta1 # <-
kind: Deployment
metadata: {name: rabbitmq}
spec:
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
      - {name: c, image: rabbitmq}
`},
	{name: "digests that are none, and one that is", rule: "image-tag", yaml: job(`      restartPolicy: Never
      containers:
      - name: a
        image: nginx@sha256:abc # <-
      - name: b
        image: nginx@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef # <-
      - name: c
        image: nginx:1.27@md5:0123456789abcdef0123456789abcdef # <-
      - name: d
        image: nginx:1.27@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
`)},
	{name: "keys and tokens by value", rule: "secret-value", yaml: job(pod(`        env:
        - name: TLS_KEY_PEM
          value: "-----BEGIN RSA PRIVATE KEY-----\nMIIE..." # <-
        - name: CI
          value: ghp_abcdefghijklmnopqrstuvwxyz0123456789 # <-
        - name: AWS_ID
          value: AKIAIOSFODNN7EXAMPLE # <-
        - name: GITHUB_TOKEN
          value: ghp_abcdefghijklmnopqrstuvwxyz0123456789
        - name: PUBLIC
          value: "-----BEGIN PUBLIC KEY-----"
        args:
        - auth=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U # <-
`))},
	{name: "a key in a ConfigMap", rule: "secret-value", yaml: `apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data:
  ok: plain
  key.pem: | # <-
    -----BEGIN OPENSSH PRIVATE KEY-----
    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ
`},
	{name: "ingress of networking v1beta1", rule: "api-version-removed", yaml: `apiVersion: networking.k8s.io/v1beta1 # <-
kind: Ingress
metadata: {name: i}
`},
	{name: "pdb of policy v1beta1", rule: "api-version-removed", yaml: `apiVersion: policy/v1beta1 # <-
kind: PodDisruptionBudget
metadata: {name: i}
`},
	{name: "hpa v2beta2", rule: "api-version-removed", yaml: `apiVersion: autoscaling/v2beta2 # <-
kind: HorizontalPodAutoscaler
metadata: {name: i}
`},
	{name: "a v1 Deployment", rule: "api-version-kind", yaml: `apiVersion: v1 # <-
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: c, image: c:1, securityContext: {privileged: true}}
`},
	{name: "a Job of batch/v2", rule: "api-version-kind", yaml: `apiVersion: batch/v2 # <-
kind: Job
metadata: {name: d}
`},
	{name: "a custom resource called Job", rule: "api-version-kind", yaml: `apiVersion: example.com/v1
kind: Job
metadata: {name: d}
`},
	{name: "a Pod with spec: null", rule: "pod-containers", yaml: `apiVersion: v1 # <-
kind: Pod
metadata: {name: p}
spec: null
`},
	{name: "a Deployment without a template", rule: "pod-containers", yaml: `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec: # <-
  selector: {matchLabels: {app: a}}
`},
	{name: "a Job with empty containers", rule: "pod-containers", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [] # <-
`},
	{name: "a Job with containers as a map is pod-field-types'", rule: "pod-containers", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: {a: {image: "a:1"}}
`},
	{name: "a Job with containers", rule: "pod-containers", yaml: `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: "c:1"}]
`},
	{name: "apps/v1 without selector", rule: "selector-required", yaml: `apiVersion: apps/v1
kind: Deployment
metadata: {name: rabbitmq}
spec: # <-
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
      - {name: c, image: rabbitmq}
`},
	{name: "selector not matching", rule: "selector-matches-template", yaml: `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: s}
spec:
  selector:
    matchLabels: {app: a, tier: b}
  template:
    metadata:
      labels: {app: a, tier: c} # <-
    spec:
      containers:
      - {name: c, image: c:1}
`},
	{name: "ignore without reason", rule: "ignore-reason", yaml: `apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    jobwq.dev/ignore: image-tag # <-
spec:
  containers:
  - {name: c, image: c}
`},
	{name: "ignore with reason", rule: "ignore-reason", yaml: `apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    jobwq.dev/ignore: image-tag,container-limits pinned by CI
spec:
  containers:
  - {name: c, image: c}
`},
}

// marked returns "line:column" of each line ending in the marker.
func marked(src string) []string {
	var out []string
	for i, line := range strings.Split(src, "\n") {
		if !strings.HasSuffix(line, "# <-") {
			continue
		}
		col := strings.IndexFunc(line, func(r rune) bool { return r != ' ' && r != '-' }) + 1
		out = append(out, fmt.Sprintf("%d:%d", i+1, col))
	}
	return out
}

func TestRules(t *testing.T) {
	p, err := Compile(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, tc := range ruleCases {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			if !p.Enabled(tc.rule) {
				t.Fatalf("no rule %s", tc.rule)
			}
			tested[tc.rule] = true
			fs, err := p.CheckBytes("case.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				if f.Rule == tc.rule {
					got = append(got, fmt.Sprintf("%d:%d", f.Pos.Line, f.Pos.Column))
				}
				if strings.HasPrefix(f.Message, "the rule could not check") {
					t.Errorf("%s: %s", f.Rule, f.Message)
				}
			}
			if diff := cmp.Diff(marked(tc.yaml), got); diff != "" {
				t.Errorf("%s findings (-want +got):\n%s\nall findings:\n%s", tc.rule, diff, dump(fs))
			}
		})
	}
	for _, r := range p.Rules() {
		if !tested[r.ID] && r.ID != "job-completions-spec" {
			t.Errorf("rule %s has no case", r.ID)
		}
	}
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s: %s\n", f.Pos, f.Rule, f.Message)
	}
	return b.String()
}
