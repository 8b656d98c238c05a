# The two quick-start commands: `make demo` (set up, then run the main job on the embedded default) and
# `make test` (set up, then run the test suite). Both are safe to run on a fresh clone.
.PHONY: setup demo test bench

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	bash scripts/install_browser.sh
	.venv/bin/python -m pytest -q

bench: setup
	.venv/bin/python benchmarks/canvas_world.py
