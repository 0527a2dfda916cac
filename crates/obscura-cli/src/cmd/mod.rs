//! One module per command group. Each command turns its parsed arguments
//! into the core's options, calls the core, and prints the result.

pub(crate) mod evidence;
pub(crate) mod incidents;
pub(crate) mod media;
pub(crate) mod redact;
