# Install paths besides `ulearn push`: package.json for `mpremote mip install`, a CircuitPython bundle.
.PHONY: package
package: venv
	$(PY) -m ulearn_host.packaging
