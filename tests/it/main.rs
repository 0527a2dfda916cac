//! Integration tests of the library on real footage fetched by the setup.

mod common;
mod decode;
mod masks;
mod redact;
mod sar;
mod transcode;
