"""data_logger: sample the board's sensor at a fixed rate into the crash-safe log, or stream it."""
