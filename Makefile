# The two commands of the README: `make run` and `make test`.
SWIFT ?= swift

.PHONY: run test bench deps

deps:
	@scripts/install-deps.sh

# Runs the main job. Until the supervision work brings Supervisors/demo.yaml,
# that is the PingPong example.
run: deps
	$(SWIFT) run -c release PingPong

test: deps
	$(SWIFT) test

# Prints the figures of every benchmark (release build).
bench: deps
	$(SWIFT) build -c release --product calf
	for name in spawn pingpong ring fanin codec journal; do .build/release/calf bench $$name; done
