"""Sensors: a small interface, a LIS3DH on the Adafruit driver, a ring buffer, windows, a sampler.

A sensor is any object with::

    channels      int, values per sample (3 for an accelerometer)
    rate_hz       int, samples per second it delivers
    scale, unit   float and str: one count is `scale` `unit` (e.g. 0.0000625 "g")
    fifo          bool: True if it buffers samples itself (read them in bursts when polled);
                  False: the Sampler reads one sample on a ticks_us schedule
    max_burst     int, the most samples one read_into can return
    start(), stop()
    read_into(raw) -> n: put n samples (0..max_burst) into the bytearray `raw` as little-endian
                  int16, interleaved (x0 y0 z0 x1 ...); no allocation

`LIS3DH` (ulearn.sensors.lis3dh) is one; an I2C IMU or an ADC microphone plugs in the same way.
`Sampler` (ulearn.sensors.sampler) moves samples into a `Ring` (int16, preallocated) and measures
the achieved rate and jitter; `Windows` hands out fixed-length, overlapping windows of it.
"""


class SensorError(OSError):
    """A sensor is missing, is not what was expected, or stopped answering; the message says what to do."""
