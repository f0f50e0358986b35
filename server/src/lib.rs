//! The ci-dashboard server: configuration, the ingestion API, stores and
//! the command-line interface. `main.rs` only calls [`cli::main`].
// Leptos view types of the deeper pages nest beyond the default limit.
#![recursion_limit = "256"]

pub mod api;
pub mod badge;
pub mod cli;
pub mod client;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod error;
pub mod events;
pub mod health;
pub mod history;
pub mod ingest;
pub mod legacy;
pub mod metrics;
pub mod ratelimit;
pub mod release;
pub mod startup;
pub mod store;
pub mod token;
pub mod verdict;
