# ruff: noqa: F821 - ptr8/ptr32 are viper built-ins
"""Max/average pooling in viper (used when the backend is viper or native): the same integers as
ulearn.nn.layers.pool. Parameters: the layer's int32 array made at load (layout: ulearn.nn.layers.pool)."""

import micropython


@micropython.viper
def pool(x, out, p):
    """Pool x ('b' HWC) into out ('b') with the int32 parameters p (see ulearn.nn.layers.pool); no allocation."""
    px = ptr8(x)
    po = ptr8(out)
    pp = ptr32(p)
    is_max = int(pp[0])
    in_h = int(pp[1])
    in_w = int(pp[2])
    c = int(pp[3])
    out_h = int(pp[4])
    out_w = int(pp[5])
    k_h = int(pp[6])
    k_w = int(pp[7])
    s_h = int(pp[8])
    s_w = int(pp[9])
    pad_top = int(pp[10])
    pad_left = int(pp[11])
    amin = int(pp[12]) - 128
    amax = int(pp[13]) - 128
    o = 0
    if is_max and in_h == 1 and pad_left == 0 and s_w == k_w:  # 1-D, valid, non-overlapping
        step = k_w * c
        end = out_w * step
        q0 = 0
        while q0 < end:
            q = q0
            qe = q0 + c
            while q < qe:
                acc = int(px[q])
                if acc > 127:
                    acc -= 256
                t = q + c
                te = q + step
                while t < te:
                    v = int(px[t])
                    if v > 127:
                        v -= 256
                    if v > acc:
                        acc = v
                    t += c
                if acc < amin:
                    acc = amin
                if acc > amax:
                    acc = amax
                po[o] = acc & 0xFF
                o += 1
                q += 1
            q0 += step
        return
    oy = 0
    while oy < out_h:
        y0 = oy * s_h - pad_top
        y1 = y0 + k_h
        if y0 < 0:
            y0 = 0
        if y1 > in_h:
            y1 = in_h
        ox = 0
        while ox < out_w:
            x0 = ox * s_w - pad_left
            x1 = x0 + k_w
            if x0 < 0:
                x0 = 0
            if x1 > in_w:
                x1 = in_w
            count = (y1 - y0) * (x1 - x0)
            ch = 0
            while ch < c:
                acc = 0
                if is_max:
                    acc = -129
                iy = y0
                while iy < y1:
                    q = (iy * in_w + x0) * c + ch
                    ix = x0
                    while ix < x1:
                        v = int(px[q])
                        if v > 127:
                            v -= 256
                        if is_max:
                            if v > acc:
                                acc = v
                        else:
                            acc += v
                        q += c
                        ix += 1
                    iy += 1
                if not is_max:
                    half = count >> 1
                    if acc > 0:
                        acc = (acc + half) // count
                    else:
                        acc = 0 - ((half - acc) // count)
                if acc < amin:
                    acc = amin
                if acc > amax:
                    acc = amax
                po[o] = acc & 0xFF
                o += 1
                ch += 1
            ox += 1
        oy += 1
