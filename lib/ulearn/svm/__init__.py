"""SVMs on the device: fixed-point inference (``model``), in-situ training (``train``), atomic
saving (``store``) and the fixed-point helpers (``qmath``; viper twins in ``_sviper``).

Section tags and scales are documented in ``model.py``; the design choices in docs/svm.md.
"""
