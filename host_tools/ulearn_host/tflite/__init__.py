"""`.tflite` interchange for the int8 IR: `writer.to_tflite` (export), `reader.from_tflite` (`ulearn
import`) and `micro.MicroReference` (TFLite Micro, the bit-exact reference interpreter)."""
