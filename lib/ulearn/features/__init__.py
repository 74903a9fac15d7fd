"""Features on the device: windows (ring buffer with overlap), time-domain statistics, Q15 FFT,
band energies, dominant frequency and spectral centroid, all int16 with documented scales.

    from ulearn.features.spec import FeatureSpec
    from ulearn.features.extract import Extractor
    from ulearn.features.window import Windower

The spec (``spec.py``) is the one description shared with the host (``ulearn_host.features``).
"""
