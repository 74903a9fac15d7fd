"""fan_monitor: the state of a fan (off / on / clogged / friction) from 3-axis vibration, int8 CNN."""
