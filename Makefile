# Shortcuts for the two README commands (scripts/run.sh does the work and needs nothing but bash).
.PHONY: demo test bench
demo:
	bash scripts/run.sh demo
test:
	bash scripts/run.sh test
bench:
	bash scripts/run.sh bench
