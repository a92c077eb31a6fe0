# Tandem's build. `make run` opens the player; `make test` runs every test.
# Both first install what is missing: Debian packages (apt-get, with sudo
# when not root), the npm packages of the interop test (npm ci from the
# committed lockfile) and the Go modules pinned in go.mod.

SHELL := /bin/bash
export LANG := en_US.UTF-8
TAGS := migrated_fynedo
GO ?= go

# Fyne's X11 build, ALSA for oto, and the end-to-end tools.
DEB_BUILD := gcc pkg-config libgl1-mesa-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev libasound2-dev
DEB_TEST  := xvfb x11-utils libgl1-mesa-dri xdotool imagemagick x11-apps pulseaudio pulseaudio-utils libasound2-plugins nodejs npm \
             lame flac vorbis-tools sox dbus-daemon desktop-file-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all run install-desktop test build deps deps-build deps-test hub player vet bench fuzz clean

all: build

# deps-build installs the Debian packages the player needs to build.
deps-build:
	@missing=$$(for p in $(DEB_BUILD); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	fi
	$(GO) mod download

# deps-test adds the test tools and the interop test's npm packages.
deps-test: deps-build
	@missing=$$(for p in $(DEB_TEST); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if command -v node >/dev/null && command -v npm >/dev/null; then \
	  missing=$$(echo $$missing | tr ' ' '\n' | grep -vx -e nodejs -e npm | tr '\n' ' '); fi; \
	if [ -n "$$(echo $$missing)" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	fi
	@if [ ! -d test/interop/node_modules/socket.io-client ] || [ test/interop/package-lock.json -nt test/interop/node_modules/.package-lock.json ]; then \
	  cd test/interop && npm ci --no-audit --no-fund; fi

deps: deps-test

bin/hub: FORCE
	CGO_ENABLED=0 $(GO) build -o bin/hub ./cmd/hub

bin/player: FORCE
	$(GO) build -tags $(TAGS) -o bin/player ./cmd/player

FORCE:

hub: deps-build bin/hub
player: deps-build bin/player
build: deps-build bin/hub bin/player

# run opens the player with its built-in hub and the demo library.
run: build
	./bin/player

# install-desktop registers the player with the desktop: its menu entry,
# its icon, and tandem:// links, which then open it.
install-desktop: player
	./bin/player --install-desktop

vet:
	$(GO) vet -tags $(TAGS) ./...
	CGO_ENABLED=0 $(GO) vet -tags $(TAGS) ./ui ./player/... ./desktop/... ./audio ./assets ./store ./sync/... ./cmd/hub

# test runs every test: vet, unit, integration, interop and the end-to-end
# smoke test of the real player under Xvfb, all with the race detector.
test: deps-test build vet
	CGO_ENABLED=0 $(GO) test -tags $(TAGS) ./ui ./player/... ./desktop/...
	TANDEM_PLAYER_BIN=$(CURDIR)/bin/player TANDEM_HUB_BIN=$(CURDIR)/bin/hub TANDEM_ARTIFACTS=$(CURDIR)/artifacts TANDEM_REQUIRE_DBUS=1 TANDEM_REQUIRE_PULSE=1 \
	  $(GO) test -race -count=1 -tags $(TAGS) -timeout 20m $$($(GO) list ./... | grep -vxF -e tandem/audio/device -e tandem/test/e2e)
	@# The packages that measure real sound run alone, one at a time, so
	@# that the other packages' tests do not starve them of CPU.
	TANDEM_PLAYER_BIN=$(CURDIR)/bin/player TANDEM_HUB_BIN=$(CURDIR)/bin/hub TANDEM_ARTIFACTS=$(CURDIR)/artifacts TANDEM_REQUIRE_DBUS=1 TANDEM_REQUIRE_PULSE=1 \
	  $(GO) test -race -count=1 -p 1 -tags $(TAGS) -timeout 20m ./audio/device ./test/e2e
	@for f in $(FUZZ_TARGETS); do pkg=$${f%%:*}; fn=$${f##*:}; \
	  echo "fuzz $$fn in $$pkg for $(FUZZTIME_SHORT)"; \
	  $(GO) test -tags $(TAGS) -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME_SHORT) $$pkg || exit 1; done

# bench runs the benchmarks; BENCHMARKS.md records their figures.
bench: deps-build
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem ./...

# Every fuzz target, as package:function. make test runs each briefly;
# make fuzz runs each for FUZZTIME.
FUZZ_TARGETS := ./sync/socketio:FuzzDecode ./sync/socketio:FuzzBinaryReassembly ./sync/engineio:FuzzDecodePayload ./sync/engineio:FuzzDecodeOpen ./sync/engineio:FuzzWSFrames \
	./audio:FuzzReadTags ./audio:FuzzDecode ./audio:FuzzProbe ./store:FuzzValidateName ./store:FuzzDecodeEntry \
	./sync/protocol:FuzzAppendString
# make test runs each target for a fixed number of inputs, not a time: a
# time limit fails the run ("context deadline exceeded") when a loaded
# machine is still replaying the cached corpus when it runs out.
FUZZTIME_SHORT ?= 3000x
FUZZTIME ?= 10m
fuzz: deps-build
	@for f in $(FUZZ_TARGETS); do pkg=$${f%%:*}; fn=$${f##*:}; \
	  echo "fuzz $$fn in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -tags $(TAGS) -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; done

clean:
	rm -rf bin artifacts
