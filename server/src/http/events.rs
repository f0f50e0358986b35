//! Live updates: open pages follow cell changes over server-sent events.
//! The stream starts with a `ready` event (clients refetch then, which
//! covers anything missed before connecting or while reconnecting), then
//! sends `cells` events: the cells of the branch that changed, as a JSON
//! array, at most one per [`super::fanout::BATCH`]; `ready` is sent again
//! when this client fell behind and events were dropped.
//!
//! Changes are gathered and serialized once for all streams
//! ([`super::fanout`]), so a stream wakes a few times a second however
//! fast builds arrive: what a stream costs does not grow with the
//! ingestion rate. A stream ends after the configured lifetime and the
//! browser reconnects, so none is held for ever; how many one address and
//! all together may hold is capped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use super::fanout::Batch;
use super::state::AppState;
use crate::domain::ids::Branch;
use crate::http::error::{ApiError, ErrorBody};

#[derive(Deserialize)]
pub struct EventsQuery {
    branch: Option<String>,
}

/// How long a browser waits before reconnecting a stream that ended.
const RECONNECT: Duration = Duration::from_secs(2);

fn ready() -> Event {
    Event::default().event("ready").retry(RECONNECT).data("{}")
}

#[utoipa::path(get, path = "/api/v1/events", tag = "reads",
    params(("branch" = Option<String>, Query, description = "Only this branch's cells; every branch unless given")),
    responses(
        (status = 200, description = "Server-sent events: `cells` (a JSON array of changed cells) and `ready`", body = String, content_type = "text/event-stream"),
        (status = 400, description = "A bad parameter, named in `field`", body = ErrorBody),
        (status = 429, description = "Too many streams from this address", body = ErrorBody),
        (status = 503, description = "The server holds its maximum of streams", body = ErrorBody),
    ))]
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
    let changes = BroadcastStream::new(state.cell_changes.subscribe()).filter_map(move |item| {
        // The slot is freed when the stream is dropped, however it ends.
        let _held = &slot;
        std::future::ready(match item {
            Ok(batch) => match &*batch {
                Batch::Cells { branch: of, json } => branch
                    .as_ref()
                    .is_none_or(|b| b.as_str() == of)
                    .then(|| Event::default().event("cells").data(json)),
                Batch::Resync => Some(ready()),
            },
            Err(BroadcastStreamRecvError::Lagged(_)) => Some(ready()),
        })
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
