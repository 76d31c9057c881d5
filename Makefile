# jobwq: `make test` runs every test against the real components (RabbitMQ,
# kube-apiserver with etcd, kubectl, kube-score, and a real single-node
# Kubernetes running real pods, which needs root); `.ci/run` prepares a
# fresh machine and calls it.

GO        ?= go
GOFLAGS   ?=
CACHE     ?= $(HOME)/.cache/jobwq
TOOLS_BIN := $(CACHE)/bin
KUBE_SCORE_VERSION := v1.20.0
export PATH := $(TOOLS_BIN):$(PATH)
export JOBWQ_CACHE := $(CACHE)

.PHONY: all test unit lint drift tools kube-score kube-tools kueue yaml-language-server conformance e2e bench bench-e2e fuzz generate example clean

all: test

## test: everything CI runs.
test: lint drift tools
	$(GO) test -race -count=1 -timeout 30m ./...

## unit: the Go tests without the lint and drift checks.
unit: tools
	$(GO) test -race ./...

lint:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...

## drift: the committed build of the example and the exported JSON Schemas
## match the code.
drift:
	$(GO) run ./cmd/jobwq build examples/fruits -o . --check
	$(GO) run ./cmd/jobwq schema | diff -u schemas/workqueue.schema.json -
	$(GO) run ./cmd/jobwq schema --without-items | diff -u schemas/workqueue-without-items.schema.json -

tools: kube-score kube-tools kueue yaml-language-server

kube-score: $(TOOLS_BIN)/kube-score
$(TOOLS_BIN)/kube-score:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/zegl/kube-score/cmd/kube-score@$(KUBE_SCORE_VERSION)

## yaml-language-server: the editor the JSON Schema is tested with
## (internal/workqueue's editor test), pinned by the lock file beside it.
yaml-language-server:
	JOBWQ_CACHE=$(CACHE) bash internal/workqueue/testdata/editor/install.sh

## kube-tools: the pinned Kubernetes binaries (kube-apiserver,
## kube-controller-manager, kube-scheduler, kubelet, kube-proxy) and CoreDNS,
## built from tools/kube into $(CACHE)/kube-<version>/ (seconds once built),
## and etcd from apt when missing and root.
kube-tools:
	JOBWQ_CACHE=$(CACHE) GO=$(GO) bash tools/kube/install.sh

## kueue: the Kueue controller manager (sigs.k8s.io/kueue/cmd/kueue) and its
## CRDs and webhook manifests, from the module proxy, into
## $(CACHE)/kueue-<version>/ (seconds once built), for internal/e2e.
kueue:
	JOBWQ_CACHE=$(CACHE) GO=$(GO) bash tools/kueue/install.sh

## conformance: a real kube-apiserver judges everything jobwq renders.
conformance: kube-tools
	JOBWQ_CACHE=$(CACHE) $(GO) test -race -count=1 -timeout 20m ./internal/kubetest/... ./internal/conformance/...

## e2e: jobwq's example and its faults on real pods: a single-node
## Kubernetes (containerd, kubelet, kube-proxy, CoreDNS on a private bridge
## in 198.18.0.0/16) started and torn down by internal/e2e. Needs root and
## Debian's containerd, runc, containernetworking-plugins, iptables,
## nftables, mmdebstrap and busybox-static (.ci/run installs them).
e2e: kube-tools kueue
	JOBWQ_CACHE=$(CACHE) $(GO) test -race -count=1 -timeout 30m -v ./internal/e2e

## bench-e2e: jobwq at scale on real pods (as root; not part of make test):
## 100,000 items at 1,000 per pod with the queue and indexed variants, the
## growth from 1,000 to 100,000, and the article's amqp-consume -c 1 pattern
## beside jobwq at one item per pod, one line per run. Needs Debian's
## amqp-tools besides what make e2e needs.
bench-e2e: kube-tools kueue
	$(GO) vet -tags bench_e2e ./internal/e2e
	JOBWQ_CACHE=$(CACHE) $(GO) test -tags bench_e2e -count=1 -timeout 90m -run '^TestBenchE2E$$' ./internal/e2e

## generate: refresh everything derived from the code, the CUE and go.mod.
generate:
	$(GO) test -count=1 -run '^TestThirdPartyNotices$$' . -update
	$(GO) run ./cmd/jobwq schema > schemas/workqueue.schema.json
	$(GO) run ./cmd/jobwq schema --without-items > schemas/workqueue-without-items.schema.json
	$(GO) run ./cmd/jobwq build examples/fruits -o .

## example: the README's first command.
example:
	$(GO) run ./cmd/jobwq build examples/fruits -o out

## bench: the speed goals, each side by side with what users would use
## instead (a bare amqp091-go publisher, the article's amqp-publish loop and
## amqp-consume -c 1, kube-score, kubectl kustomize). Needs RabbitMQ and
## Debian's amqp-tools.
bench: tools
	$(GO) test -run '^$$' -bench 'Build1M' -benchmem -benchtime 3x .
	$(GO) test -run '^$$' -bench 'LoadHostile' -benchmem -benchtime 3x ./internal/workqueue
	$(GO) test -run '^$$' -bench 'Seed100k|BarePublish100k' -benchtime 3x ./internal/broker
	$(GO) test -run '^$$' -bench 'AmqpPublishLoop' -benchtime 100x ./internal/broker
	$(GO) test -run '^$$' -bench 'PerItem' -benchtime 50x ./internal/broker
	$(GO) test -run '^$$' -bench '2000.*Jobs' -benchtime 5x ./internal/policy
	@echo "== jobwq policy vs kube-score score, each a process, on the same 2,000 varied Deployments (cpu-s/op, maxrss-MB); with one user rule outside the fast subset (UserRule)"
	$(GO) test -run '^$$' -bench 'Deployments2000' -benchtime 3x ./internal/policy
	@echo "== jobwq policy vs kube-score score on a real-world corpus with CRDs of deep schemas (testdata/corpus)"
	$(GO) test -run '^$$' -bench 'Corpus' -benchtime 3x ./internal/policy
	@echo "== jobwq policy on 100 MB of distinct Jobs, in every output format (maxrss-MB)"
	$(GO) test -run '^$$' -bench 'Jobs100MB' -benchtime 1x -timeout 60m ./internal/policy
	@echo "== render of the 1M-item tree: jobwq render vs kubectl kustomize"
	@tmp=$$(mktemp -d) && seq -f 'item-%07g' 1000000 > $$tmp/items.txt && \
	  printf 'apiVersion: jobwq.dev/v1alpha1\nkind: WorkQueue\nmetadata: {name: big}\nspec:\n  itemsFile: items.txt\n  worker: {image: "w:1", command: [run]}\n' > $$tmp/workqueue.yaml && \
	  $(GO) build -o $$tmp/jobwq ./cmd/jobwq && $$tmp/jobwq build $$tmp -o $$tmp/out 2>/dev/null && \
	  /usr/bin/time -f "jobwq vet:        %es %MKB" $$tmp/jobwq vet $$tmp > /dev/null && \
	  /usr/bin/time -f "jobwq render:     %es %MKB" $$tmp/jobwq render $$tmp > /dev/null && \
	  /usr/bin/time -f "kubectl kustomize: %es %MKB" kubectl kustomize $$tmp/out/overlays/statefulset > /dev/null && \
	  /usr/bin/time -f "jobwq build:      %es %MKB" $$tmp/jobwq build $$tmp -o $$tmp/out2; \
	  rm -rf $$tmp

## fuzz: a short run of every fuzz target.
fuzz:
	@for pkg in $$($(GO) list ./internal/...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime 20s $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf out
