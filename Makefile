# jobwq: `make test` runs every test against the real components (RabbitMQ,
# kube-apiserver with etcd, kubectl, kube-score); `.ci/run` prepares a fresh
# machine and calls it.

GO        ?= go
GOFLAGS   ?=
CACHE     ?= $(HOME)/.cache/jobwq
TOOLS_BIN := $(CACHE)/bin
KUBE_SCORE_VERSION := v1.20.0
export PATH := $(TOOLS_BIN):$(PATH)
export JOBWQ_CACHE := $(CACHE)

.PHONY: all test unit lint drift tools kube-score kube-tools conformance bench fuzz generate example clean

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

## drift: the committed build of the example and the exported JSON Schema
## match the code.
drift:
	$(GO) run ./cmd/jobwq build examples/fruits -o . --check
	$(GO) run ./cmd/jobwq schema | diff -u schemas/workqueue.schema.json -

tools: kube-score kube-tools

kube-score: $(TOOLS_BIN)/kube-score
$(TOOLS_BIN)/kube-score:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/zegl/kube-score/cmd/kube-score@$(KUBE_SCORE_VERSION)

## kube-tools: the pinned kube-apiserver and kube-controller-manager, built
## from tools/kube into $(CACHE)/kube-<version>/ (seconds once built), and
## etcd from apt when missing and root.
kube-tools:
	JOBWQ_CACHE=$(CACHE) GO=$(GO) bash tools/kube/install.sh

## conformance: a real kube-apiserver judges everything jobwq renders.
conformance: kube-tools
	JOBWQ_CACHE=$(CACHE) $(GO) test -race -count=1 -timeout 20m ./internal/kubetest/... ./internal/conformance/...

## generate: refresh everything derived from the code and the CUE.
generate:
	$(GO) run ./cmd/jobwq schema > schemas/workqueue.schema.json
	$(GO) run ./cmd/jobwq build examples/fruits -o .

## example: the README's first command.
example:
	$(GO) run ./cmd/jobwq build examples/fruits -o out

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x ./internal/...

## fuzz: a short run of every fuzz target.
fuzz:
	@for pkg in $$($(GO) list ./internal/...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime 20s $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf out
