//! Live updates: open pages follow cell changes over server-sent events.
//! The stream starts with a `ready` event (clients refetch then, which
//! covers anything missed before connecting or while reconnecting), then
//! sends `cells` events: the cells of the branch that changed, as a JSON
//! array, at most one event per [`BATCH`]; `ready` is sent again when this
//! client fell behind and events were dropped.
//!
//! Every change is serialized once ([`super::fanout`]), however many
//! streams follow it, and a stream writes at most a few times a second, however fast builds arrive:
//! what a stream costs does not grow with the ingestion rate. A stream ends
//! after the configured lifetime and the browser reconnects, so none is
//! held for ever; how many one address and all together may hold is capped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use super::fanout::CellChange;
use super::state::AppState;
use crate::domain::ids::Branch;
use crate::http::error::ApiError;

#[derive(Deserialize)]
pub struct EventsQuery {
    branch: Option<String>,
}

/// How long a browser waits before reconnecting a stream that ended.
const RECONNECT: Duration = Duration::from_secs(2);
/// Changes are gathered this long into one event.
pub const BATCH: Duration = Duration::from_millis(250);
/// Cell changes one event carries at most.
const MAX_BATCH: usize = 256;

fn ready() -> Event {
    Event::default().event("ready").retry(RECONNECT).data("{}")
}

/// One event for a batch of changes; a cell changed twice is sent once, as
/// it is now.
fn cells(batch: Vec<Arc<CellChange>>) -> Event {
    let mut latest: Vec<&Arc<CellChange>> = Vec::with_capacity(batch.len());
    for change in batch.iter().rev() {
        if !latest.iter().any(|seen| seen.key == change.key) {
            latest.push(change);
        }
    }
    latest.reverse();
    let mut data = String::from("[");
    for (i, change) in latest.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        data.push_str(&change.json);
    }
    data.push(']');
    Event::default().event("cells").data(data)
}

pub async fn cell_events(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let branch = query.branch.map(|b| Branch::parse(&b)).transpose()?;
    let slot = state
        .streams
        .take(client.ip())
        .map_err(|refused| ApiError::refused("event streams", refused))?;
    let mine = BroadcastStream::new(state.cell_changes.subscribe()).filter(move |item| {
        std::future::ready(match item {
            Ok(change) => branch.as_ref().is_none_or(|b| b.as_str() == change.branch),
            Err(BroadcastStreamRecvError::Lagged(_)) => true,
        })
    });
    let changes =
        tokio_stream::StreamExt::chunks_timeout(mine, MAX_BATCH, BATCH).map(move |chunk| {
            // The slot is freed when the stream is dropped, however it ends.
            let _held = &slot;
            let lagged = chunk.iter().any(Result::is_err);
            if lagged {
                ready()
            } else {
                cells(chunk.into_iter().filter_map(Result::ok).collect())
            }
        });
    let mut shutdown = state.shutdown.clone();
    let lifetime = Duration::from_secs(state.settings.stream_lifetime);
    // Open streams must end for a graceful shutdown to finish.
    let until_end = async move {
        tokio::select! {
            _ = shutdown.wait_for(|stopping| *stopping) => {}
            () = tokio::time::sleep(lifetime) => {}
        }
    };
    let events = stream::once(std::future::ready(ready()))
        .chain(changes)
        .map(Ok)
        .take_until(until_end);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().text("keep-alive")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(arch: &str, n: u32) -> Arc<CellChange> {
        Arc::new(CellChange {
            branch: "master".into(),
            key: ("agw".into(), arch.into(), "bazel".into()),
            json: format!(r#"{{"arch":"{arch}","n":{n}}}"#),
        })
    }

    /// A burst of changes becomes one event with each cell once, as it
    /// last was, in the order cells last changed.
    #[test]
    fn a_batch_sends_each_cell_once_as_it_is_now() {
        let batch = vec![change("arm64", 1), change("amd64", 2), change("arm64", 3)];
        let text = format!("{:?}", cells(batch));
        assert!(
            text.contains(r#"[{\"arch\":\"amd64\",\"n\":2},{\"arch\":\"arm64\",\"n\":3}]"#),
            "{text}"
        );
        assert!(!text.contains(r#"\"n\":1"#), "{text}");
    }
}
