"""Pure decision logic: no I/O, the clock is always passed in."""
