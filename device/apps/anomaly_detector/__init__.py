"""anomaly_detector: learn "normal" on the device (in-situ one-class SVM), then flag what is not."""
