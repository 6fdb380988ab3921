# The two commands of the README: `make run` and `make test`.
SWIFT ?= swift

.PHONY: run test bench deps

deps:
	@scripts/install-deps.sh

# Runs the main job: a node on the data directory .calf/demo booting the demo
# tree of Supervisors/demo.yaml. Ctrl-C stops it.
run: deps
	$(SWIFT) build -c release --product calf
	mkdir -p .calf
	.build/release/calf node --data .calf/demo Supervisors/demo.yaml

test: deps
	$(SWIFT) test

# Prints the figures of every benchmark (release build).
bench: deps
	$(SWIFT) build -c release --product calf
	for name in spawn pingpong ring fanin codec journal durable replay recover restart shell idle savina; do .build/release/calf bench $$name; done
