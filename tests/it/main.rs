//! Integration tests of the library on real footage fetched by the setup.

mod common;
mod decode;
mod evidence;
mod index;
mod masks;
mod media_bad;
mod motion;
mod people;
mod redact;
mod redactor;
mod review;
mod sar;
mod transcode;
mod truth;
mod vehicles;
