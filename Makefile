# ledgerd — the two commands a newcomer needs:
#   make run    start a local 4-validator network (the main job)
#   make test   gofmt check, go vet and every test
SHELL := /bin/bash
GO ?= go
BIN := bin/ledgerd
VALIDATORS ?= 4
DEVNET_DIR ?= .devnet
# Packages cheap enough for the race detector on a 2-core machine.
RACE_PKGS := ./ledger/... ./checkpoint/... ./node/...
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
