//! Integration tests: features through the library and the binary, with real
//! HTTP and SMTP servers on loopback and real sled stores in temp dirs.

mod config_errors;
mod corpus;
mod crash;
mod daemon;
mod dialects;
mod digest_render;
mod email_html;
mod encoder;
mod encodings;
mod fetching;
mod folding;
mod identity;
mod migration;
mod model;
mod parsing;
mod pipeline;
mod postgres;
mod process;
mod promises;
mod stories;
mod support;
mod web;
