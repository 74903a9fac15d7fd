# Docs site (mkdocs): `make docs` builds build/site; `make docs-serve` previews it on localhost:8000.
.PHONY: docs docs-serve
docs: venv
	$(PY) -m mkdocs build --strict

docs-serve: venv
	$(PY) -m mkdocs serve
