//! Starting a client: options beyond `Config`, the default transport, and
//! the worker thread.

use std::fmt;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tidings::{Config, ConfigError, Core, LibInfo, Notice, OverflowPolicy};

use crate::client::{Client, DEFAULT_DROP_TIMEOUT};
use crate::clock::random_seed;
use crate::pool::Pool;
use crate::shared::{Msg, NoticeHook, Shared};
use crate::transport::Transport;
use crate::worker;

/// Options beyond [`Config`]: the transport, the drop timeout, a seed.
///
/// ```
/// use std::time::Duration;
/// use tidings_native::{Client, Config, HttpResponse};
///
/// let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
///     .transport(|_request| Ok(HttpResponse::new(200)))
///     .drop_timeout(Duration::from_secs(1))
///     .build()?;
/// # Ok::<(), tidings_native::ConfigError>(())
/// ```
#[must_use = "call `build` to start the client"]
pub struct Builder {
    config: Config,
    transport: Option<Arc<dyn Transport>>,
    drop_timeout: Duration,
    seed: Option<u64>,
    on_notice: Option<NoticeHook>,
}

impl fmt::Debug for Builder {
    /// `Config`'s `Debug` already hides the key and header values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("custom_transport", &self.transport.is_some())
            .field("drop_timeout", &self.drop_timeout)
            .field("seed", &self.seed.map(|_| "set"))
            .field("on_notice", &self.on_notice.is_some())
            .finish()
    }
}

impl Builder {
    pub(crate) fn new(config: Config) -> Self {
        Builder {
            config,
            transport: None,
            drop_timeout: DEFAULT_DROP_TIMEOUT,
            seed: None,
            on_notice: None,
        }
    }

    /// Sends through `transport` instead of the default `ureq` agent.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// How long dropping the client waits for pending events
    /// (default [`DEFAULT_DROP_TIMEOUT`]).
    pub fn drop_timeout(mut self, timeout: Duration) -> Self {
        self.drop_timeout = timeout;
        self
    }

    /// Seeds uuid generation and retry jitter (random by default); for
    /// reproducible tests.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Calls `hook` with every notice of the core: which uuids were
    /// delivered or dropped (and why), warnings, flush and shutdown results.
    /// It runs on the worker or a calling thread, never under the client's
    /// lock, and before `flush` returns for what that flush covered. Keep it
    /// short; it may call the client.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
    /// use std::time::Duration;
    /// use tidings_native::{Client, Config, Event, HttpResponse, Notice};
    ///
    /// let delivered = Arc::new(AtomicU64::new(0));
    /// let seen = delivered.clone();
    /// let client = Client::builder(Config::new("phc_key", "https://ingest.example.com"))
    ///     .transport(|_request| Ok(HttpResponse::new(200)))
    ///     .on_notice(move |notice| {
    ///         if let Notice::Delivered { uuids, .. } = notice {
    ///             seen.fetch_add(uuids.len() as u64, Ordering::Relaxed);
    ///         }
    ///     })
    ///     .build()?;
    /// client.capture(Event::new("signup", "user-1"))?;
    /// client.flush(Duration::from_secs(1));
    /// assert_eq!(delivered.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_notice(mut self, hook: impl Fn(&Notice) + Send + Sync + 'static) -> Self {
        self.on_notice = Some(NoticeHook::new(hook));
        self
    }

    /// Validates the configuration and starts the worker thread.
    ///
    /// # Panics
    ///
    /// If the OS cannot start the worker thread.
    pub fn build(self) -> Result<Client, ConfigError> {
        let Builder {
            mut config,
            transport,
            drop_timeout,
            seed,
            on_notice,
        } = self;
        if config.lib == LibInfo::default() {
            config.lib = LibInfo {
                name: env!("CARGO_PKG_NAME").to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            };
        }
        let transport = match transport {
            Some(transport) => transport,
            None => default_transport()?,
        };
        let max_in_flight = config.max_in_flight;
        let drop_oldest = config.overflow == OverflowPolicy::DropOldest;
        let core = Core::new(config, seed.unwrap_or_else(random_seed))?;
        if let Some(host) = core.config().insecure_http_host() {
            // Once per client; the host only, never the key or the query.
            log::warn!(
                "tidings: sending events and the API key to {host} over plain http, unencrypted (allow_insecure_http)"
            );
        }
        let url = core.url().split('?').next().unwrap_or_default().to_owned();
        let (inbox, messages) = mpsc::channel();
        let pool = Pool::new(transport, inbox.clone(), max_in_flight);
        let shared = Arc::new(Shared::new(core, on_notice, inbox));
        let worker = start_worker(Arc::clone(&shared), messages, pool);
        Ok(Client {
            shared,
            worker: Mutex::new(Some(worker)),
            drop_timeout,
            drop_oldest,
            url,
        })
    }
}

#[cfg(feature = "ureq")]
fn default_transport() -> Result<Arc<dyn Transport>, ConfigError> {
    Ok(Arc::new(crate::transport::UreqTransport::new()))
}

#[cfg(not(feature = "ureq"))]
fn default_transport() -> Result<Arc<dyn Transport>, ConfigError> {
    Err(ConfigError {
        field: "transport",
        problem: "this build has no default transport: enable the `ureq` feature or set one with `Builder::transport`".into(),
    })
}

fn start_worker(shared: Arc<Shared>, messages: Receiver<Msg>, pool: Pool) -> JoinHandle<()> {
    thread::Builder::new()
        .name("tidings-worker".into())
        .spawn(move || worker::run(shared, messages, pool))
        .expect("tidings: cannot start the worker thread")
}
