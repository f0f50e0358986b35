//! The integration tests, one binary (one link instead of one per file):
//! HTTP tests against the real router, the real binary killed mid-post,
//! the CLI client, the legacy import, Firestore through the emulator, and
//! the layering of the source. `firestore_fault.rs` stays apart: it points
//! the process at an emulator of its own and freezes it.

mod common;

mod api;
mod client;
mod connections;
mod durability;
mod firestore;
mod github;
mod hostile;
mod junit;
mod layers;
mod legacy;
mod openapi;
mod quarantine;
mod views;
mod webhooks;
