//! feed-digest: news feeds in, one good email a day out.
//!
//! # Layout
//! The pipeline, one module per stage, pure logic in the middle:
//! - [`config`]: the TOML file (+ env overrides) → typed, validated [`config::Config`].
//! - [`fetch`]: HTTP(S)/file bytes with conditional GET, timeouts, size caps. I/O.
//! - [`parse`]: bytes → items (RSS, Atom, JSON Feed via feed-rs). Pure.
//! - [`boilerplate`]: blocks a feed repeats in every item, removed. Pure.
//! - [`article`]: the article model and its dedup identity. Pure.
//! - [`ingest`]: new vs seen vs first-poll baseline, and who gets what. Pure.
//! - [`store`]: the sled database behind a typed API. I/O.
//! - [`topics`]: topic rules and subscriber filters. Pure.
//! - [`images`]: an article's thumbnail, never a tracking pixel. Pure.
//! - [`digest`]: the digest model, its languages and its askama rendering. Pure.
//! - [`mail`]: MIME composition and the SMTP/file transports. I/O.
//! - [`schedule`]: due times in each subscriber's zone. Pure.
//!
//! On top: [`poll`] (fetch → parse → ingest → store for every feed),
//! [`deliver`] (pending → digest → outbox → mail → commit), [`service`]
//! (the daemon), [`notify`] (systemd), [`metrics`] (Prometheus), [`opml`] (feed lists in and out), and the
//! `cli` in the binary.

pub mod archive;
pub mod article;
pub mod boilerplate;
pub mod cadence;
pub mod config;
pub mod deliver;
pub mod demo;
pub mod digest;
pub mod feed_state;
pub mod fetch;
mod fnv;
pub mod i18n;
pub mod images;
pub mod ingest;
pub mod links;
pub mod mail;
pub mod meaning;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod opml;
pub mod outbox;
pub mod parse;
pub mod poll;
pub mod schedule;
pub mod serve;
pub mod service;
pub mod store;
pub mod stories;
pub mod subscriber;
pub mod text;
pub mod topics;
pub mod variants;
pub mod web;
