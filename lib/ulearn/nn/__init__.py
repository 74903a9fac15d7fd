"""int8 CNN runtime: TFLite-exact int8 layers over one preallocated arena.

    import ulearn
    m = ulearn.load("fan.mpy")            # a .mpy/.py model module or a raw blob
    m = ulearn.nn.load_raw("fan.ulb")     # raw blob: sections read into the arrays kept, never copied

Modules: ``format`` (the CNN blob sections), ``model`` (Model, from_blob, the layer program runner),
``layers`` (depthwise conv, pooling), ``_softmax`` (softmax; on 32-bit ports ``_vsoftmax`` / ``_slimbs``),
``_vpool`` (viper pooling); convolutions and dense layers go through ``ulearn.backend``. ``_load`` and
``_alloc`` run only while loading.
"""


def load_raw(path):
    """Load a raw CNN blob file (`.ulb`; ulearn.load does this for such files): the CRC32 is checked
    reading the file in chunks, then the int8 weights and the quantization sections are read
    straight into the arrays the model keeps (nothing copied, the metadata sections not kept).

    Returns the model (see ulearn.nn.model.Model). Raises ulearn.blob.BlobError on a bad blob.
    """
    from ulearn.nn.model import from_file
    return from_file(path)
