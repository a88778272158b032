# Omnistitch. `make demo` and `make test` work on a machine with nothing but Go:
# they fetch Go modules (and, once the service needs it, start ClickHouse) as needed.

GO              ?= go
BIN             := bin/omnistitch
STATICCHECK     := honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION         ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
FUZZTIME        ?= 30s

.PHONY: build test vet lint race demo bench fuzz clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/omnistitch

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

lint:
	$(GO) run $(STATICCHECK) ./...

race:
	$(GO) test -race -count=1 ./...

# The test command CI runs (.ci/run) and the README gives.
test: vet lint race

demo: build
	./$(BIN) demo

# Engine throughput with Pebble on disk; see bench/RESULTS.md.
bench:
	$(GO) test -run=NONE -bench=. -benchmem -cpu=1 ./stitch/ ./stitch/event/

# Short fuzzing of every decoder and normaliser.
fuzz:
	$(GO) test -run=NONE -fuzz=FuzzDecode -fuzztime=$(FUZZTIME) ./stitch/event/
	$(GO) test -run=NONE -fuzz=FuzzNormalizeEmail -fuzztime=$(FUZZTIME) ./stitch/normalize/
	$(GO) test -run=NONE -fuzz=FuzzNormalizePhone -fuzztime=$(FUZZTIME) ./stitch/normalize/
	$(GO) test -run=NONE -fuzz=FuzzNormalizePlain -fuzztime=$(FUZZTIME) ./stitch/normalize/
	$(GO) test -run=NONE -fuzz=FuzzLoad -fuzztime=$(FUZZTIME) ./internal/config/
	$(GO) test -run=NONE -fuzz=FuzzStitch -fuzztime=$(FUZZTIME) ./stitch/offline/

clean:
	rm -rf bin
