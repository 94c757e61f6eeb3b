# Thin aliases: every task lives in tasks.py so that a machine with only Python runs them too.
PYTHON ?= python3

.PHONY: setup generate check test compat demo bench

setup generate check test compat demo bench:
	$(PYTHON) tasks.py $@
