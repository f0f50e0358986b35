//! Live updates: open pages follow cell changes over server-sent events.
//! The stream starts with a `ready` event (clients refetch then, which
//! covers anything missed before connecting or while reconnecting), then
//! sends one `cell` event per changed cell of the branch; `ready` is sent
//! again when this client fell behind and events were dropped.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use super::state::AppState;
use crate::domain::ids::Branch;
use crate::http::error::ApiError;

#[derive(Deserialize)]
pub struct EventsQuery {
    branch: Option<String>,
}

fn ready() -> Event {
    Event::default().event("ready").data("{}")
}

pub async fn cell_events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let branch = query.branch.map(|b| Branch::parse(&b)).transpose()?;
    let changes = BroadcastStream::new(state.views.store.subscribe()).filter_map(move |item| {
        let event = match item {
            Ok(cell) if branch.as_ref().is_none_or(|b| b.as_str() == cell.branch) => {
                Event::default().event("cell").json_data(&cell).ok()
            }
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(_)) => Some(ready()),
        };
        std::future::ready(event.map(Ok))
    });
    let mut shutdown = state.shutdown.clone();
    // Open streams must end for a graceful shutdown to finish.
    let until_shutdown = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    let events = stream::once(std::future::ready(Ok(ready())))
        .chain(changes)
        .take_until(until_shutdown);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
