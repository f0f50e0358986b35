//! Pages that follow a branch live: the server's cell events
//! (`/api/v1/events`), whichever server received the build.

use leptos::prelude::*;

use crate::model::Cell;

/// What the server says happened on a branch. (Only the WASM app
/// receives events; the server renders pages as they are.)
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum CellEvent {
    /// Connected, or reconnected after a gap: anything may have changed.
    Ready,
    /// These cells changed, in the order they did.
    Cells(Vec<Cell>),
}

/// Calls `on_event` for the branch's events as long as the page lives, one
/// at a time; events that arrived meanwhile come merged into one, so a
/// burst of posts costs a page one refresh, not one per build. `connected`
/// says whether the stream is up.
#[cfg(feature = "hydrate")]
pub fn follow_cells<F, Fut>(branch: &str, connected: RwSignal<bool>, on_event: F)
where
    F: Fn(CellEvent) -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    use crate::model::encoded;
    use futures::future::{AbortHandle, Abortable};

    // Not the router's ParamsMap: it decodes values as they go in.
    let url = format!("/api/v1/events?branch={}", encoded(branch));
    let (abort, registration) = AbortHandle::new_pair();
    on_cleanup(move || abort.abort());
    leptos::task::spawn_local(async move {
        let follow = async move {
            // The browser reconnects a stream that ends by itself; one the
            // server refused (too many streams) stays closed: retry later.
            loop {
                follow_stream(&url, connected, &on_event).await;
                connected.set(false);
                sleep(std::time::Duration::from_secs(10)).await;
            }
        };
        let _ = Abortable::new(follow, registration).await;
    });
}

#[cfg(not(feature = "hydrate"))]
pub fn follow_cells<F, Fut>(_: &str, _: RwSignal<bool>, _: F)
where
    F: Fn(CellEvent) -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
}

/// Follows one event source until the browser gives it up.
#[cfg(feature = "hydrate")]
async fn follow_stream<F, Fut>(url: &str, connected: RwSignal<bool>, on_event: &F)
where
    F: Fn(CellEvent) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::{FutureExt, StreamExt};
    use gloo_net::eventsource::{futures::EventSource, State};

    let Ok(mut source) = EventSource::new(url) else {
        return;
    };
    let (Ok(ready), Ok(cells)) = (source.subscribe("ready"), source.subscribe("cells")) else {
        return;
    };
    let mut events = futures::stream::select(ready, cells);
    while let Some(first) = events.next().await {
        let mut batch = vec![first];
        while let Some(Some(more)) = events.next().now_or_never() {
            batch.push(more);
        }
        let mut ready = false;
        let mut changed = Vec::new();
        for event in batch {
            match event {
                Ok((kind, _)) if kind == "ready" => ready = true,
                Ok((_, message)) => {
                    let cells = message
                        .data()
                        .as_string()
                        .and_then(|data| serde_json::from_str::<Vec<Cell>>(&data).ok());
                    changed.extend(cells.unwrap_or_default());
                }
                Err(_) if source.state() == State::Closed => return,
                // The browser reconnects by itself; `ready` follows.
                Err(_) => connected.set(false),
            }
        }
        if ready {
            on_event(CellEvent::Ready).await;
            connected.set(true);
        } else if !changed.is_empty() {
            on_event(CellEvent::Cells(changed)).await;
        }
    }
}

#[cfg(feature = "hydrate")]
async fn sleep(duration: std::time::Duration) {
    let (done, wake) = futures::channel::oneshot::channel();
    set_timeout(
        move || {
            let _ = done.send(());
        },
        duration,
    );
    let _ = wake.await;
}
