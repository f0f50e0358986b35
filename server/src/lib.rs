//! The ci-dashboard server. Layers, each importing only the ones below it:
//! `cli`, `http` and `notify` (adapters) -> `service` (the application: what pages
//! and the API show, and the use cases that write)
//! -> `store` (storage primitives and the algorithms both stores share) ->
//! `domain` (pure rules). `startup` wires them together; `main.rs` only
//! calls [`cli::main`]. docs/architecture.md is the map.
// Leptos view types of the deeper pages nest beyond the default limit.
#![recursion_limit = "256"]

pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod notify;
pub mod service;
pub mod startup;
pub mod store;
