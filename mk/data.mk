# Datasets: `make data` fetches what needs a download (BasicMotions from the aeon wheel, no deps).
.PHONY: data
SETUP_EXTRA += data

data: venv
	$(PY) -m ulearn_host.data prepare
