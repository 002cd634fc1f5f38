//! Running many commands, N at a time: the pool.
