# The two commands of the README: `make run` and `make test`.
SWIFT ?= swift

.PHONY: run test bench deps dev

deps:
	@scripts/install-deps.sh

# Runs the main job: a node on the data directory .calf/demo booting the demo
# tree of Supervisors/demo.yaml. Ctrl-C stops it.
run: deps
	$(SWIFT) build -c release --product calf
	mkdir -p .calf
	.build/release/calf node --data .calf/demo Supervisors/demo.yaml

# Runs the graph of Supervisors/dev.yaml on the shop example
# (Examples/DevLoop/shop): edit it and watch `calf shell --data .calf/dev -c graph`.
dev: deps
	$(SWIFT) build -c release --product calf
	mkdir -p .calf
	.build/release/calf node --data .calf/dev Supervisors/dev.yaml

test: deps
	$(SWIFT) test

# Prints the figures of every benchmark (release build).
bench: deps
	$(SWIFT) build -c release --product calf
	for name in spawn pingpong ring fanin codec journal durable replay recover restart shell idle savina watch graph; do .build/release/calf bench $$name; done
