//! Types shared by the server, the JSON API and the WASM frontend, a file
//! per feature, with display helpers and links in modules of their own.
//! Everything is re-exported here, so `model::Build` names a type wherever
//! it lives.

mod cell;
mod commit;
mod console;
mod display;
mod history;
mod incident;
mod links;
mod markdown;
mod overview;
mod release;
mod report;
mod test_results;
#[cfg(test)]
mod tests;

pub use cell::*;
pub use commit::*;
pub use console::*;
pub use display::*;
pub use history::*;
pub use incident::*;
pub use links::*;
pub use markdown::*;
pub use overview::*;
pub use release::*;
pub use report::*;
pub use test_results::*;
