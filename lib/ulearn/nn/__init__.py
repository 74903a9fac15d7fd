"""int8 CNN runtime: TFLite-exact int8 layers over one preallocated arena.

    import ulearn
    m = ulearn.load("fan.mpy")            # a .mpy/.py model module or a raw blob
    m = ulearn.nn.load_raw("fan.ulb")     # raw blob read into an int8 buffer: weights never copied

Modules: ``format`` (the CNN blob sections), ``model`` (Model, from_blob), ``layers`` (depthwise
conv, pooling, softmax; convolutions and dense layers go through ``ulearn.backend``).
"""


def load_raw(path):
    """Load a raw CNN blob file (`.ulb`) into one int8 array so the weights are used in place.

    Returns the model (see ulearn.nn.model.Model). Raises ulearn.blob.BlobError on a bad blob.
    """
    import os

    from ulearn.blob import Blob, BlobError
    from ulearn.nn.model import from_blob, int8_array
    try:
        size = os.stat(path)[6]
        buf = int8_array(size, zero=False)
        with open(path, "rb") as f:
            f.readinto(buf)
    except OSError as e:
        raise BlobError("%s: cannot read the model file (%s)" % (path, e)) from None
    return from_blob(Blob(buf), path)
