"""Trainers: `cnn` (PyTorch int8 CNN) and `svm` (scikit-learn SVMs), each with train(args) and evaluate(...)."""

MODEL_TRAINERS = {
    "cnn": "ulearn_host.train.cnn",
    "svm": "ulearn_host.train.svm",
    "linear-svm": "ulearn_host.train.svm",
    "ocsvm": "ulearn_host.train.svm",
}
