//! Server functions: the only way the frontend reads data.

use leptos::prelude::*;
use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::{de::DeserializeOwned, Serialize};

use crate::model::{CommitLookup, HealthMatrix, HistoryView, ReleaseReport, ReleaseSummary};

/// Shown instead of an error dump when the store is down.
pub const UNAVAILABLE: &str = "Storage unavailable: the dashboard cannot reach its database right now. Results posted by CI are kept by their retries; try again in a moment.";

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_health(branch: Option<String>) -> Result<HealthMatrix, ServerFnError> {
    dashboard()
        .health(branch)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_commit(query: String) -> Result<CommitLookup, ServerFnError> {
    dashboard()
        .commit(query)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_history(
    branch: String,
    component: String,
    arch: String,
    build_type: String,
    days: u32,
    cursor: Option<String>,
) -> Result<HistoryView, ServerFnError> {
    dashboard()
        .history(branch, component, arch, build_type, days, cursor)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_release(branch: String) -> Result<ReleaseReport, ServerFnError> {
    dashboard()
        .release(branch)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

#[server(prefix = "/_app", output = JsonText)]
pub async fn get_releases() -> Result<Vec<ReleaseSummary>, ServerFnError> {
    dashboard()
        .releases()
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

/// JSON like server_fn's own `Json`, decoded from text: resources arriving
/// with the page are decoded from text too, so the WASM bundle carries one
/// JSON decoder per type instead of two (one per reader type).
pub type JsonText = Post<TextJsonEncoding>;

pub struct TextJsonEncoding;

impl ContentType for TextJsonEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for TextJsonEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for TextJsonEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for TextJsonEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

#[cfg(feature = "ssr")]
fn dashboard() -> std::sync::Arc<dyn crate::ssr::Dashboard> {
    expect_context::<crate::ssr::DashboardContext>().0
}
