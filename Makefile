# rampart: `make demo` runs the lab demo, `make test` runs the tests.
# Both install what they need (Debian packages, Go modules) first; run as root
# on a Debian machine with Go.

GO      ?= go
BIN     := bin/rampart
PKGS    := ./...
# Debian packages the lab and the tests use. iproute2 builds the lab; the
# rest are real peers that the interoperability tests talk to; jq reads the
# IDS's EVE output as its consumers do.
DEB_PKGS := iproute2 procps unbound nsd curl squid-openssl wrk coturn nftables jq tcpdump pkg-config libhyperscan-dev
# Build tags: "hyperscan" compiles the IDS prefilter's Hyperscan matcher
# (ids/mpm/hyperscan, cgo) when pkg-config finds libhs; without it the
# pure-Go matcher of ids/mpm is the only one. Evaluated where used, after
# deps has installed the library.
TAGS     = $(shell pkg-config --exists libhs 2>/dev/null && echo hyperscan)

.PHONY: all build demo test deps check fuzz bench clean

all: build

deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(GO) mod download

build: deps
	$(GO) build -tags "$(TAGS)" -o $(BIN) ./cmd/rampart
	# pion's RFC 5780 client, which the demo's NAT scenario runs (pinned in go.mod as a tool)
	$(GO) build -o bin/stun-nat-behaviour github.com/pion/stun/v3/cmd/stun-nat-behaviour

demo: build
	./$(BIN) lab demo

test: deps
	$(GO) test -tags "$(TAGS)" -count=1 -timeout 15m $(PKGS)

# Static checks that CI runs besides the tests.
check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags "$(TAGS)" $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags "$(TAGS)" $(PKGS)

bench:
	$(GO) test -tags "$(TAGS)" -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
