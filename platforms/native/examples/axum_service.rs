//! An axum service that captures one event per request and, on graceful
//! shutdown (Ctrl-C), lets the last requests finish and then awaits
//! `shutdown_async`, so every event it accepted is sent or counted before
//! the process exits. No `spawn_blocking` anywhere.
//!
//! ```sh
//! cargo run -p tidings-native --example axum_service
//! curl http://127.0.0.1:3000/hello/alice   # then Ctrl-C
//! ```
//!
//! Events go to `TIDINGS_HOST` with `TIDINGS_API_KEY` when both are set,
//! otherwise to an in-process loopback sink that counts them.
//! `tests/async_service.rs` drives `serve` over loopback.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use tidings_native::{Client, Event, ShutdownOutcome};
use tokio::net::TcpListener;

/// The routes: `GET /hello/{user}` captures `page_viewed` for `user` and
/// answers with the event's uuid.
pub fn app(client: Arc<Client>) -> Router {
    Router::new()
        .route("/hello/{user}", get(hello))
        .with_state(client)
}

async fn hello(
    State(client): State<Arc<Client>>,
    Path(user): Path<String>,
) -> (StatusCode, String) {
    let event = Event::new("page_viewed", user).property("path", "/hello");
    // Never waits for the network: fine on the executor's thread.
    match client.capture(event) {
        Ok(uuid) => (StatusCode::OK, uuid.to_string()),
        // Refused events are counted in `stats()`; the request still works.
        Err(refused) => (StatusCode::ACCEPTED, format!("not recorded: {refused}")),
    }
}

/// Serves on `listener` until `stop` resolves, lets in-flight requests
/// finish, then shuts the client down within `drain`.
pub async fn serve(
    listener: TcpListener,
    client: Arc<Client>,
    stop: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<ShutdownOutcome> {
    axum::serve(listener, app(Arc::clone(&client)))
        .with_graceful_shutdown(stop)
        .await?;
    Ok(client.shutdown_async(drain).await)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = match (
        std::env::var("TIDINGS_API_KEY"),
        std::env::var("TIDINGS_HOST"),
    ) {
        (Ok(key), Ok(host)) => tidings_native::Config::new(key, host),
        _ => tidings_native::Config::new("phc_demo_key", loopback_sink::start()),
    };
    let client = Arc::new(Client::new(config)?);
    let listener = TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let outcome = serve(
        listener,
        Arc::clone(&client),
        ctrl_c,
        Duration::from_secs(5),
    )
    .await?;
    let stats = client.stats();
    println!(
        "{outcome:?}: {} captured, {} delivered, {} dropped",
        stats.captured,
        stats.delivered,
        stats.dropped_total()
    );
    // Already shut down: dropping the client returns at once.
    Ok(())
}

/// A PostHog-like endpoint on 127.0.0.1 for trying the example offline.
mod loopback_sink {
    use std::thread;

    /// Starts the sink; its URL.
    pub fn start() -> String {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}", server.server_addr().to_ip().expect("an IP"));
        thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                // Each event carries exactly one "uuid" key.
                println!("sink: {} events", body.matches("\"uuid\":").count());
                let _ = request.respond(tiny_http::Response::from_string(r#"{"status":1}"#));
            }
        });
        url
    }
}
