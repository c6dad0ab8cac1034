# ledgerd — the two commands a newcomer needs:
#   make run    start a local 4-validator network (the main job)
#   make test   gofmt check, go vet and every test
SHELL := /bin/bash
GO ?= go
BIN := bin/ledgerd
VALIDATORS ?= 4
DEVNET_DIR ?= .devnet
# Packages cheap enough for the race detector on a 2-core machine.
RACE_PKGS := ./ledger/... ./checkpoint/... ./p2p/... ./node/...
TEST_TIMEOUT ?= 30m

.PHONY: all build static run test fmt-check vet unit race clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ledgerd

# A fully static cgo build (fast libsecp256k1 recovery) for FROM-scratch images.
static:
	CGO_ENABLED=1 $(GO) build -trimpath -tags netgo,osusergo \
		-ldflags '-s -w -linkmode external -extldflags "-static"' -o bin/ledgerd-static ./cmd/ledgerd

run: build
	./$(BIN) devnet --validators $(VALIDATORS) --dir $(DEVNET_DIR)

test: fmt-check vet unit

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -timeout $(TEST_TIMEOUT) -count=1 ./...
	$(GO) test -timeout $(TEST_TIMEOUT) -count=1 -race -short $(RACE_PKGS)

clean:
	rm -rf bin $(DEVNET_DIR)

# --- docker-compose testnet (testnet/README.md) ---------------------------
# make testnet-up [N=4]   build the static binary and the FROM-scratch image,
#                         generate testnet/out/ (once) and start it
# make testnet-down       stop it and delete its volumes and testnet/out/
# make testnet-e2e        fault-injection end-to-end tests (needs Docker)
N ?= 4
TESTNET_IMAGE ?= ledgerd:testnet
TESTNET_OUT ?= testnet/out
TESTNET_PROJECT ?= ledgerd-testnet
TESTNET_COMPOSE = timeout 300 docker-compose -p $(TESTNET_PROJECT) -f $(TESTNET_OUT)/docker-compose.yml

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
	LEDGERD_BIN=$(abspath bin/ledgerd-static) LEDGERD_TESTNET_IMAGE=$(TESTNET_IMAGE) \
		$(GO) test -tags e2e -count=1 -v -timeout 30m -run . ./testnet/
