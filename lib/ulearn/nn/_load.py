"""Loading a CNN blob, part 1: every check before anything is allocated (ulearn.nn.model imports
this for the load and releases it before ulearn.nn._alloc allocates, so its bytecode is not in the
heap together with the model's buffers). A raw blob file is read here once in chunks for its CRC32
and its small sections (META, LAYR, PLAN); ulearn.nn._alloc then reads the weights and the
quantization sections straight into the arrays the model keeps."""

import struct
import sys

from ulearn.blob import BlobError
from ulearn.fixedpoint import LIMBS
from ulearn.nn import format as F
from ulearn.nn.model import _IN_PLACE, _SIZE  # model is loaded before this module

backend = sys.modules["ulearn.backend"]

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_DW_MAX = F.DW_EXPAND_MAX
_MODEL_OVERHEAD = const(1024)  # heap bytes of the Model object and its metadata (64-bit: ~0.9 KB measured)
_HDR = const(20)  # model words at the start of q (ulearn.nn.model H_*)
# fields of a layer record (struct.unpack_from(F.LAYER_FORMAT, ...)); predict indexes them directly
_OP = const(0)
_FLAGS = const(1)
_ACT_MIN = const(2)
_ACT_MAX = const(3)
_IN_H = const(4)
_IN_W = const(5)
_IN_C = const(6)
_OUT_H = const(7)
_OUT_W = const(8)
_OUT_C = const(9)
_K_H = const(10)
_K_W = const(11)
_D_W = const(15)
_DM = const(18)
_IN_ZP = const(19)
_OUT_ZP = const(20)
_W_OFF = const(22)
_W_LEN = const(23)
_Q_OFF = const(24)
_EXTRA = const(25)


def _err(source, msg):
    raise BlobError("%s: %s" % (source, msg))


def _check_layer(r, i, tensors, wlen, nch, source):
    op = r[_OP]
    where = "layer %d (%s)" % (i, F.OP_NAMES.get(op, "op %d" % op))
    if op not in F.OP_NAMES:
        _err(source, "%s is unknown to this ulearn: update ulearn on the board" % where)
    n_in = r[_IN_H] * r[_IN_W] * r[_IN_C]
    out_c = r[_OUT_C]
    n_out = r[_OUT_H] * r[_OUT_W] * out_c
    if n_in != tensors[i][1] or n_out != tensors[i + 1][1]:
        _err(source, "%s: shapes do not match the arena plan: corrupt blob" % where)
    if not -128 <= r[_ACT_MIN] <= r[_ACT_MAX] <= 127 or not -128 <= r[_IN_ZP] <= 127 or \
            not -128 <= r[_OUT_ZP] <= 127:
        _err(source, "%s: activation range or zero point outside int8: corrupt blob" % where)
    if min(r[_K_H:_D_W + 1]) < 1:
        _err(source, "%s: kernel, stride and dilation must be >= 1: corrupt blob" % where)
    if op != F.OP_DENSE and op != F.OP_RESHAPE and op != F.OP_SOFTMAX:
        # every window must touch the input (TFLite's valid/same padding guarantee it)
        for size, out, k, st, dil, pad in ((r[_IN_H], r[_OUT_H], r[_K_H], r[12], r[14], r[16]),
                                           (r[_IN_W], r[_OUT_W], r[_K_W], r[13], r[_D_W], r[17])):
            if pad >= (k - 1) * dil + 1 or (out - 1) * st - pad >= size:
                _err(source, "%s: padding/stride leave windows outside the input: corrupt blob" % where)
    k = r[_K_H] * r[_K_W]
    if op == F.OP_CONV or op == F.OP_DEPTHWISE or op == F.OP_DENSE:
        want = out_c * k * r[_IN_C] if op == F.OP_CONV else (k * out_c if op == F.OP_DEPTHWISE else out_c * n_in)
        if r[_W_LEN] != want or r[_W_OFF] + r[_W_LEN] > wlen:
            _err(source, "%s: %d weight bytes at %d, needs %d within %d: corrupt blob" %
                 (where, r[_W_LEN], r[_W_OFF], want, wlen))
        if r[_Q_OFF] + out_c > nch:
            _err(source, "%s: quantization parameters out of range: corrupt blob" % where)
    if op == F.OP_DEPTHWISE and out_c != r[_IN_C] * r[_DM]:
        _err(source, "%s: %d output channels for %d inputs x multiplier %d: corrupt blob" %
             (where, out_c, r[_IN_C], r[_DM]))
    if (op == F.OP_MAX_POOL or op == F.OP_AVG_POOL) and out_c != r[_IN_C]:
        _err(source, "%s: pooling changes the channel count: corrupt blob" % where)
    if op == F.OP_SOFTMAX and (n_in != n_out or r[_Q_OFF] >= nch or r[_EXTRA] > 0):
        _err(source, "%s: bad softmax parameters: corrupt blob" % where)


def _dw_bytes(r):
    # bytes of a depthwise layer's weights expanded to a dense conv (out_c x k_h x k_w x in_c)
    return r[_OUT_C] * r[_K_H] * r[_K_W] * r[_IN_C]


def prepare(self, blob, path, source):
    """Everything before allocation for Model.__init__: the sections of `blob` (ulearn.blob.Blob) or
    of the raw blob file `path` (read_file), checked (check); returns (plan, sections)."""
    inplace = None
    if path is None:
        meta, layr, psec, sec = blob_sections(blob)
        w = sec[F.TAG_WEIGHTS]
        lengths = (len(w), len(sec[F.TAG_BIAS]), len(sec[F.TAG_MULT]), len(sec[F.TAG_SHIFT]))
        if backend.NAME in _IN_PLACE and sys.implementation.name == "micropython":
            # the weights and shifts stay where they are (a .mpy constant: flash on ROMFS boards); the
            # kernels of these backends read int8 from unsigned bytes (the Python ones need a copy)
            payload, woff, _ = blob.span(F.TAG_WEIGHTS)
            inplace = (payload, woff, blob.span(F.TAG_SHIFT)[1])
    else:
        meta, layr, psec, sec = read_file(path)
        lengths = (sec[F.TAG_WEIGHTS][1], sec[F.TAG_BIAS][1], sec[F.TAG_MULT][1], sec[F.TAG_SHIFT][1])
    plan = check(self, meta, layr, psec, lengths, source)
    if inplace is not None and (plan[13] or not plan[10] and len(inplace[0]) > 32767):
        inplace = None  # a depthwise layer would run the Python loops on the bytes, or int16 words too short
    if inplace is not None:  # nothing to allocate for the weights
        plan = plan[:6] + (plan[6] - plan[12] - plan[2],) + plan[7:]
    # (the weights follow the arena in one array, their offsets in the program are beyond it)
    return plan + (inplace,), sec


def blob_sections(blob):
    """(meta, LAYR, PLAN, {tag: section}) of a validated ulearn.blob.Blob (memoryviews, no copies)."""
    sec = {}
    for tag in (F.TAG_WEIGHTS, F.TAG_BIAS, F.TAG_MULT, F.TAG_SHIFT):
        sec[tag] = blob.section(tag)
    return blob.meta(), blob.section(F.TAG_LAYERS), blob.section(F.TAG_PLAN), sec


def read_file(path):
    """First pass over a raw blob file: container header and section table checked, the payload's
    CRC32 computed in 256-byte chunks, META/LAYR/PLAN read. Returns (meta, LAYR, PLAN, {tag: (file
    offset, length)}) for WGHT, BIAS, QMUL, QSFT. Raises BlobError saying what is wrong."""
    import os

    from ulearn import blob as B
    try:
        size = os.stat(path)[6]
        f = open(path, "rb")
    except OSError as e:
        raise BlobError("%s: cannot read the model file (%s)" % (path, e)) from None
    try:
        head = f.read(B.HEADER_SIZE)
        if len(head) < B.HEADER_SIZE:
            _err(path, "model blob truncated: %d bytes, the header alone needs %d; export it again" %
                 (len(head), B.HEADER_SIZE))
        magic, version, kind, nsec, hlen, plen, crc, _ = struct.unpack_from(B.HEADER_FORMAT, head, 0)
        if magic != B.MAGIC:
            _err(path, "not a ulearn model blob (magic %r, expected %r)" % (bytes(magic), B.MAGIC))
        if version > B.FORMAT_VERSION:
            _err(path, "model blob format version %d is newer than this ulearn reads (%d): update "
                 "ulearn on the board (ulearn push)" % (version, B.FORMAT_VERSION))
        if version < 1 or hlen != B.HEADER_SIZE or kind != B.KIND_CNN or nsec > B.MAX_SECTIONS:
            _err(path, "model blob header is corrupt (version %d, header length %d, kind %d, %d "
                 "sections)" % (version, hlen, kind, nsec))
        if size < B.HEADER_SIZE + plen:
            _err(path, "model blob truncated: %d of %d bytes present; copy it again" % (size, B.HEADER_SIZE + plen))
        if plen < nsec * B.SECTION_ENTRY_SIZE:
            _err(path, "model blob section table does not fit its payload")
        table = f.read(nsec * B.SECTION_ENTRY_SIZE)
        if B.crc32 is not None:
            got = B.crc32(table)
            chunk = bytearray(256)
            left = plen - len(table)
            while left > 0:
                n = f.readinto(chunk) if left >= 256 else f.readinto(memoryview(chunk)[:left])
                if not n:
                    _err(path, "model blob truncated while reading: copy it again")
                got = B.crc32(memoryview(chunk)[:n], got)
                left -= n
            got &= 0xFFFFFFFF
            if got != crc:
                _err(path, "model blob is corrupt: CRC32 %08x, expected %08x; copy it again" % (got, crc))
        where = {}
        for i in range(nsec):
            tag, off, length = struct.unpack_from(B.SECTION_FORMAT, table, i * B.SECTION_ENTRY_SIZE)
            if off + length > plen or off < nsec * B.SECTION_ENTRY_SIZE:
                _err(path, "model blob section %r lies outside the payload: corrupt" % bytes(tag))
            where[bytes(tag)] = (B.HEADER_SIZE + off, length)
        small = []
        for tag in (B.TAG_META, F.TAG_LAYERS, F.TAG_PLAN, F.TAG_WEIGHTS, F.TAG_BIAS, F.TAG_MULT, F.TAG_SHIFT):
            if tag not in where:
                _err(path, "cnn model blob has no %r section: re-export it with this ulearn" % tag)
            if len(small) < 3:
                off, length = where.pop(tag)
                f.seek(off)
                small.append(f.read(length))
    finally:
        f.close()
    import json
    try:
        meta = json.loads(small[0].decode())
    except ValueError:
        _err(path, "META is not valid JSON: corrupt blob")
    return meta, small[1], small[2], where


def check(self, meta, layr, psec, lengths, source):
    """Validate the CNN sections completely (meta: the META dict; layr/psec: LAYR and PLAN bytes;
    lengths: bytes of WGHT, BIAS, QMUL, QSFT) and set the
    model's plain attributes on `self`; returns what ulearn.nn._alloc needs. Raises BlobError saying
    what is wrong. The values of the multipliers and shifts are checked by _alloc where they land."""
    if not isinstance(meta, dict):
        _err(source, "META is not a JSON object: corrupt blob")
    wlen, blen, mlen, slen = lengths
    if len(layr) < F.LAYR_HEADER_SIZE:
        _err(source, "CNN layer table truncated: corrupt blob, export it again")
    version, count, rsize, _ = struct.unpack_from(F.LAYR_HEADER, layr, 0)
    if version > F.NN_VERSION:
        _err(source, "CNN layer table version %d is newer than this ulearn reads (%d): update "
             "ulearn on the board" % (version, F.NN_VERSION))
    if rsize != F.LAYER_SIZE or len(layr) < F.LAYR_HEADER_SIZE + count * rsize or count < 1:
        _err(source, "CNN layer table holds %d records of %d bytes in %d bytes: corrupt blob" %
             (count, rsize, len(layr)))
    nch = mlen // 4
    if blen < 4 * nch or slen < nch:
        _err(source, "bias/shift sections shorter than the %d multipliers: corrupt blob" % nch)
    if len(psec) < F.PLAN_HEADER_SIZE:
        _err(source, "arena plan truncated: corrupt blob")
    arena_bytes, scratch_off, ntens, _ = struct.unpack_from(F.PLAN_HEADER, psec, 0)
    if ntens != count + 1 or len(psec) < F.PLAN_HEADER_SIZE + ntens * F.PLAN_ENTRY_SIZE:
        _err(source, "arena plan has %d tensors for %d layers: corrupt blob" % (ntens, count))
    if scratch_off > arena_bytes:
        _err(source, "arena plan scratch beyond the arena: corrupt blob")
    tensors = []
    for t in range(ntens):
        off, n = struct.unpack_from(F.PLAN_ENTRY, psec, F.PLAN_HEADER_SIZE + t * F.PLAN_ENTRY_SIZE)
        if off + n > scratch_off or n < 1:
            _err(source, "tensor %d (%d bytes at %d) lies outside the arena plan: corrupt blob" % (t, n, off))
        tensors.append((off, n))
    shape = meta.get("input_shape") or []
    n_in = 1
    for d in shape:
        n_in *= d
    if n_in != tensors[0][1]:
        _err(source, "input shape %r does not match the arena plan: corrupt blob" % (shape,))
    layers = []
    dw = 0
    words = 0  # layer program: [op] + the kernel's words per layer (ulearn.nn._alloc)
    expand = backend.NAME != "python"  # only compiled backends run depthwise as im2col + GEMM
    direct = False  # a depthwise layer runs the Python loops (too large to expand, or not compiled)
    scratch = arena_bytes - scratch_off
    for i in range(count):
        r = struct.unpack_from(F.LAYER_FORMAT, layr, F.LAYR_HEADER_SIZE + i * rsize)
        _check_layer(r, i, tensors, wlen, nch, source)
        op = r[_OP]
        if op == F.OP_CONV or op == F.OP_DEPTHWISE and expand and _dw_bytes(r) <= _DW_MAX:
            need = backend.conv_col_size(r[_IN_C], r[_K_H], r[_K_W], r[_OUT_H], r[_OUT_W])
            if need > scratch:
                scratch = need
            if op == F.OP_DEPTHWISE:
                dw += _dw_bytes(r) + r[_OUT_C]
                words += 26
        elif op == F.OP_DEPTHWISE:
            direct = True
        words += _SIZE[op]  # [op] + its kernel's words
        if LIMBS and (op == F.OP_CONV or op == F.OP_DEPTHWISE or op == F.OP_DENSE):
            words += 2 * r[_OUT_C]  # the multipliers' halves (ulearn.fixedpoint.LIMBS)
        elif LIMBS and op == F.OP_SOFTMAX:
            words += 2
        layers.append(r)
    self.name = meta.get("name", "")
    self.classes = meta.get("classes") or []
    if len(shape) > 3:
        _err(source, "input shape %r has more than 3 dimensions: corrupt blob" % (shape,))
    c = shape[-1] if shape else 1
    unit = meta.get("input_unit", "")
    if unit:
        self._unit = unit  # else the class default ""
    mean = meta.get("input_mean")  # both None: no standardization
    std = meta.get("input_std")
    if (mean is None) != (std is None):
        mean = mean or [0.0] * c
        std = std or [1.0] * c
    if mean is not None and (len(mean) != c or len(std) != c):
        _err(source, "input_mean/input_std need %d entries (one per input channel): corrupt blob" % c)
    # the floats in one array: input scale, output scale[, mean per channel, std per channel]; 'd' holds
    # every float of the port exactly (single- or double-precision), without an object per value
    from array import array
    f = [meta.get("input_scale", 1.0), meta.get("output_scale", 1.0)]
    if mean is not None:
        f += mean
        f += std
    self._f = array("d", f)
    total = scratch_off + scratch
    ints = _HDR + 2 * nch
    # the program in int16 words when every word fits (offsets into the arena, weights and q; sizes; the
    # words' own offsets), else int32
    big = total
    for v in (total + wlen + nch, ints, words, _DW_MAX + 256):
        if v > big:
            big = v
    for r in layers:
        for v in (r[4], r[5], r[6], r[7], r[8], r[9], r[4] * r[5] * r[6], r[10], r[11], r[12], r[13], r[14],
                  r[15], r[16], r[17], r[_DM]):
            if v > big:
                big = v
    wide = big > 32767
    need = total + wlen + nch + 4 * ints + (4 if wide else 2) * words + dw + _MODEL_OVERHEAD
    mwords = (meta.get("input_zero_point", 0), meta.get("output_zero_point", 0), meta.get("params", 0),
              meta.get("macs", 0), shape)
    return layers, tensors, nch, ints, total, scratch_off, need, dw, expand, words, wide, mwords, wlen, direct
