# ledgerd — the two commands a newcomer needs:
#   make run    start a local 4-validator network (the main job)
#   make test   gofmt check, go vet and every test
# Prerequisites (README.md): Go >= the go.mod version, gcc, make, git, bash.
SHELL := /bin/bash
GO ?= go
BIN := bin/ledgerd
VALIDATORS ?= 4
DEVNET_DIR ?= .devnet
# Packages cheap enough for the race detector on a 2-core machine.
RACE_PKGS := ./ledger/... ./checkpoint/... ./p2p/... ./node/...
TEST_TIMEOUT ?= 30m

# The build names its version and commit (`ledgerd version`, the
# ledgerd_build_info metric) from git when there is a checkout; Go's own
# VCS stamping does not work in a git worktree or with GOFLAGS=-buildvcs=false.
BUILDINFO := github.com/ledgerd/ledgerd/node/buildinfo
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
VERSION_LDFLAGS = $(if $(VERSION),-X $(BUILDINFO).version=$(VERSION)) $(if $(COMMIT),-X $(BUILDINFO).commit=$(COMMIT))

.PHONY: all build static run test fmt-check vet unit clean

all: build

build:
	$(GO) build -ldflags '$(VERSION_LDFLAGS)' -o $(BIN) ./cmd/ledgerd

# A fully static cgo build (fast libsecp256k1 recovery) for FROM-scratch images.
static:
	CGO_ENABLED=1 $(GO) build -trimpath -tags netgo,osusergo \
		-ldflags '-s -w -linkmode external -extldflags "-static" $(VERSION_LDFLAGS)' -o bin/ledgerd-static ./cmd/ledgerd

# The devnet prints commands to try, spelled as it was started: bin/ledgerd.
run: build
	$(BIN) devnet --validators $(VALIDATORS) --dir $(DEVNET_DIR)

test: fmt-check vet unit

# The Go files: git's list in a checkout (tracked and untracked, not
# ignored), every *.go file below here otherwise (a tarball of the source).
fmt-check:
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		files=$$(git ls-files --cached --others --exclude-standard -- '*.go'); \
	else \
		files=$$(find . -name '*.go' -not -path './.git/*' -not -path './testnet/out/*' -not -path './.devnet/*'); \
	fi; \
	if [ -z "$$files" ]; then echo "fmt-check: no Go files found"; exit 1; fi; \
	out=$$(gofmt -l $$files); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Both runs go through testreport, which prints go test's usual lines and
# then every skipped test with its reason (a browser or Docker that is not
# installed, data that is not there). The race run uses -short, which skips
# the long end-to-end tests by design; it only counts them.
unit:
	@$(GO) build -o bin/testreport ./cmd/ledgerd/internal/testreport
	@set -o pipefail; $(GO) test -json -timeout $(TEST_TIMEOUT) -count=1 ./... | bin/testreport
	@set -o pipefail; $(GO) test -json -timeout $(TEST_TIMEOUT) -count=1 -race -short $(RACE_PKGS) | bin/testreport -short
	@echo "not run by make test: the Docker testnet end-to-end tests (make testnet-e2e; .ci/run runs them when 'docker info' answers)"

clean:
	rm -rf bin $(DEVNET_DIR)

# --- Docker testnet (testnet/README.md) -----------------------------------
# make testnet-up [N=4]   build the static binary and the FROM-scratch image,
#                         generate testnet/out/ (once) and start it
# make testnet-down       stop it and delete its volumes and testnet/out/
# make testnet-e2e        fault-injection end-to-end tests (needs Docker)
N ?= 4
TESTNET_IMAGE ?= ledgerd:testnet
TESTNET_OUT ?= testnet/out
TESTNET_PROJECT ?= ledgerd-testnet
# Compose v2 (the `docker compose` plugin) when present, else v1 (`docker-compose`).
COMPOSE ?= $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; else echo docker-compose; fi)
TESTNET_COMPOSE = timeout 300 $(COMPOSE) -p $(TESTNET_PROJECT) -f $(TESTNET_OUT)/docker-compose.yml

.PHONY: testnet-image testnet-up testnet-down testnet-e2e

testnet-image: static
	rm -rf testnet/build && mkdir -p testnet/build/data
	cp bin/ledgerd-static testnet/build/ledgerd
	timeout 600 docker build -q -t $(TESTNET_IMAGE) -f testnet/Dockerfile testnet/build
	rm -rf testnet/build

testnet-up: testnet-image
	@if [ ! -e $(TESTNET_OUT)/docker-compose.yml ]; then \
		rm -rf $(TESTNET_OUT) && \
		bin/ledgerd-static testnet --docker --validators $(N) --out $(TESTNET_OUT) \
			--image $(TESTNET_IMAGE) --start-in 30s; \
	else echo "reusing $(TESTNET_OUT) (make testnet-down deletes it)"; fi
	$(TESTNET_COMPOSE) up -d
	$(TESTNET_COMPOSE) ps

testnet-down:
	@if [ -e $(TESTNET_OUT)/docker-compose.yml ]; then \
		$(TESTNET_COMPOSE) down -v --remove-orphans -t 20; fi
	rm -rf $(TESTNET_OUT)

testnet-e2e: testnet-image
	$(GO) vet -tags e2e ./testnet/
	LEDGERD_BIN=$(abspath bin/ledgerd-static) LEDGERD_TESTNET_IMAGE=$(TESTNET_IMAGE) LEDGERD_COMPOSE="$(COMPOSE)" \
		$(GO) test -tags e2e -count=1 -v -timeout 30m -run . ./testnet/
