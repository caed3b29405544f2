# bgjobs: every command in the README is a target here.
#   make up               local cluster (kwok, fake pods) running the system
#   make up NODES=real    the same on a real kubelet node, installed by Helm
#   make test             lint + unit + integration + e2e tests (what CI runs)
# `make help` lists the rest.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
TOOLBIN     := $(shell hack/toolchain.sh --print-bin)
# NODES=real: the cluster with a real kubelet node (hack/node.sh) instead of kwok's fake ones.
NODES       ?=
ifeq ($(NODES),real)
KUBECONFIG_LOCAL := $(CURDIR)/.cluster/bgjobs-real/kubeconfig
TOOLCHAIN_FLAGS := --node
else
KUBECONFIG_LOCAL := $(CURDIR)/.cluster/kubeconfig
TOOLCHAIN_FLAGS :=
endif
CLUSTER_ENV := $(if $(NODES),BGJOBS_NODES=$(NODES))
export PATH := $(TOOLBIN):$(PATH)

# Servers the tests start on loopback. The real node's packages (containerd,
# runc, CNI plugins, ...) come from `hack/node.sh deps`, for NODES=real and the tests.
APT_PACKAGES := redis-server redis-sentinel postgresql shellcheck
NODE_DEPS := $(if $(filter real,$(NODES)),hack/node.sh deps)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install the Debian packages the tests need (Redis, Sentinel, PostgreSQL, shellcheck; NODES=real: the real node's too)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "[deps] installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(NODE_DEPS)

$(VENV)/.installed: pyproject.toml handler-images/sdk/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade 'pip>=25.1'
	$(PY) -m pip install -q -e . --group dev
	$(PY) -m pip install -q -e handler-images/sdk
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## create .venv with bgjobs and the dev tools

.PHONY: toolchain
toolchain: ## build or reuse the cached cluster binaries (~/.cache/bgjobs); NODES=real adds the node's
	hack/toolchain.sh $(TOOLCHAIN_FLAGS)

.PHONY: cluster-up
cluster-up: toolchain ## start the local cluster (kwok; NODES=real: a real kubelet node)
	$(CLUSTER_ENV) hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## delete the local cluster (NODES=real: the real-node one)
	$(CLUSTER_ENV) hack/cluster.sh down

.PHONY: cluster-status
cluster-status: ## is the local cluster up?
	$(CLUSTER_ENV) hack/cluster.sh status

.PHONY: env
env: ## print exports for the local cluster: eval "$$(make -s env)"
	@echo "export PATH=$(TOOLBIN):$(CURDIR)/$(VENV)/bin:\$$PATH KUBECONFIG=$(KUBECONFIG_LOCAL)"

.PHONY: up
up: deps venv cluster-up ## local cluster + Redis + operator + sample jobs (NODES=real: by Helm, real pods)
	$(CLUSTER_ENV) hack/system.sh up
	@echo "[up] next: eval \"\$$(make -s env$(if $(NODES), NODES=$(NODES)))\" && kubectl get bgj -o wide"

.PHONY: down
down: ## stop the system, delete the local cluster (NODES=real: the real-node one)
	$(CLUSTER_ENV) hack/system.sh down
	$(CLUSTER_ENV) hack/cluster.sh down

.PHONY: crds
crds: venv ## regenerate crds/ and docs/reference/crds.md from the models
	$(PY) -m bgjobs.models.crd crds
	$(PY) -m bgjobs.models.reference

.PHONY: docs-reference
docs-reference: crds ## same as crds

.PHONY: lint
lint: venv ## ruff (lint, format), mypy --strict (operator, SDK, tests, bench), import layers (lint-imports), shellcheck
	$(VENV)/bin/ruff check operator tests bench handler-images
	$(VENV)/bin/ruff format --check operator tests bench handler-images
	$(VENV)/bin/mypy
	@for f in handler-images/*/handler.py; do \
	  MYPYPATH=handler-images/sdk $(VENV)/bin/mypy --strict --no-error-summary $$f || exit 1; done
	$(VENV)/bin/lint-imports --no-cache --no-logo
	shellcheck $$(git ls-files 'hack/*.sh' .ci/run)

.PHONY: fmt
fmt: venv ## format the code
	$(VENV)/bin/ruff format operator tests bench handler-images
	$(VENV)/bin/ruff check --fix operator tests bench handler-images

# The pure layers (logic/, manifests/) are tested by unit tests alone: a module
# of theirs with under COVER_MIN percent of its lines covered fails test-unit.
COVER_MIN  ?= 95
COVER_PURE := $(wildcard operator/bgjobs/logic/*.py operator/bgjobs/manifests/*.py)

.PHONY: test-unit
test-unit: venv ## unit tests only (no cluster, no Redis), with line coverage; logic/ and manifests/ >= 95% each
	@mkdir -p .tmp
	$(PY) -m pytest -m unit --cov --cov-report=term-missing:skip-covered
	@echo "[test-unit] logic/ and manifests/, every module at $(COVER_MIN)% or more:"
	@$(VENV)/bin/coverage report --include='operator/bgjobs/logic/*,operator/bgjobs/manifests/*' --show-missing
	@fail=0; for f in $(COVER_PURE); do \
	  $(VENV)/bin/coverage report --include="$$f" --fail-under=$(COVER_MIN) --format=total >/dev/null \
	    || { echo "[test-unit] $$f: under $(COVER_MIN)% of its lines covered"; fail=1; }; \
	done; exit $$fail

.PHONY: test
test: deps venv lint ## lint, then unit, integration (kwok) and e2e (real node, Helm) tests
	hack/node.sh deps
	hack/toolchain.sh --node
	$(PY) -m pytest -m "unit or integration or e2e" --durations=12

.PHONY: images
images: venv ## build the handler images (Docker; a debootstrap base where no registry is reachable)
	hack/images.sh

.PHONY: kind-up
kind-up: ## with Docker and internet: a kind cluster, images loaded, the chart, the examples
	kind create cluster --name bgjobs --config kind-config.yaml
	BASE_IMAGE=python:3.11-slim hack/images.sh
	for i in $$(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^bgjobs/'); do kind load docker-image --name bgjobs $$i; done
	helm install bgjobs charts/bgjobs -n bgjobs-system --create-namespace \
	  --set image.pullPolicy=Never -f examples/kind-values.yaml
	kubectl apply -n default -f examples/jobs.yaml

.PHONY: kind-down
kind-down: ## delete the kind cluster
	kind delete cluster --name bgjobs

.PHONY: bench
bench: venv cluster-up ## benchmarks (figures, not tests): 1,000 BackgroundJobs vs 1,000 plain Jobs
	$(PY) -m bench.dispatch

.PHONY: clean
clean: ## remove the venv and local state (not the toolchain cache)
	rm -rf $(VENV) .cluster .tmp .pytest_cache .mypy_cache .ruff_cache
