#![recursion_limit = "256"]
//! The ci-dashboard web app: pages, routes and the server functions they
//! call. Server-only code sits behind the `ssr` feature; the `hydrate`
//! feature builds the WASM frontend.

pub mod api;
mod codec;
pub mod error;
pub mod model;
pub mod pages;
mod root;
#[cfg(feature = "ssr")]
pub mod ssr;

pub use root::{shell, App};

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes: the page's own WASM file is loaded before it hydrates.
    leptos::mount::hydrate_lazy(App);
}
