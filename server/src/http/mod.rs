//! The HTTP adapter: the router, its middleware and the handlers. Handlers
//! turn requests into queries and commands and answers into responses; no
//! rule lives here.

pub mod api;
pub mod auth;
pub mod client;
pub mod console;
pub mod error;
pub mod events;
pub mod fanout;
pub mod github;
pub mod incidents;
pub mod known_issues;
pub mod metrics;
pub mod moved;
pub mod openapi;
pub mod pages;
pub mod quarantine;
pub mod ratelimit;
pub mod report;
pub mod router;
pub mod serve;
pub mod slots;
pub mod state;
pub mod test_results;
