//! The core's log events, delivered to a host language's logger.
//!
//! The core reports what it does through `tracing`. A Rust application
//! installs its own subscriber (`tracing-subscriber`) and needs nothing from
//! here. A binding calls [`set_sink`] instead: that installs a small
//! subscriber which formats each enabled event into a [`LogRecord`] and hands
//! it to the sink on one thread of its own, `mtproto-log`, in order and in
//! batches.
//!
//! Why a thread of its own: a host logger may be slow (a Python handler
//! takes the GIL, a JVM listener attaches the thread), and an event is often
//! emitted on the network thread. Queueing costs the emitter a short lock;
//! the host's work never delays pings, acks or other sessions. The queue is
//! bounded ([`QUEUE_LIMIT`]): when the host falls that far behind, records
//! are dropped and the next batch starts with a warning that says how many.
//!
//! Why the level lives here: an event below [`max_level`] is refused by
//! `tracing`'s own callsite check before any field is formatted, so a
//! disabled level costs the emitter almost nothing and the host nothing at
//! all (no GIL, no thread attach).
//!
//! What never reaches a log: auth keys, anything derived from them (key
//! ids, message keys, AES keys, salts), and request or response bodies. The
//! core's events carry only counts, lengths, request ids, error codes and
//! addresses; `localdc/tests/logging.rs` runs whole sessions at
//! [`LogLevel::Trace`] and searches the output for each secret.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata};

/// How many undelivered records the queue keeps before it drops new ones.
pub const QUEUE_LIMIT: usize = 4096;

/// Severity of a record, most severe first. The numbers are stable (the C
/// ABI uses them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum LogLevel {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl LogLevel {
    /// The level of a stable number (1 = error … 5 = trace).
    pub fn from_number(n: u8) -> Option<LogLevel> {
        Some(match n {
            1 => LogLevel::Error,
            2 => LogLevel::Warn,
            3 => LogLevel::Info,
            4 => LogLevel::Debug,
            5 => LogLevel::Trace,
            _ => return None,
        })
    }

    fn of(level: &tracing::Level) -> LogLevel {
        match *level {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::TRACE => LogLevel::Trace,
        }
    }

    fn filter(level: Option<LogLevel>) -> LevelFilter {
        match level {
            None => LevelFilter::OFF,
            Some(LogLevel::Error) => LevelFilter::ERROR,
            Some(LogLevel::Warn) => LevelFilter::WARN,
            Some(LogLevel::Info) => LevelFilter::INFO,
            Some(LogLevel::Debug) => LevelFilter::DEBUG,
            Some(LogLevel::Trace) => LevelFilter::TRACE,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Error => "ERROR",
            LogLevel::Warn => "WARN",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBUG",
            LogLevel::Trace => "TRACE",
        })
    }
}

/// One formatted event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub level: LogLevel,
    /// The Rust module that emitted it, e.g. `mtproto::net`.
    pub target: &'static str,
    /// The message followed by the event's fields: `connection lost session=1 reason=eof`.
    pub message: String,
}

/// Where records go. Called only on the `mtproto-log` thread, one batch at
/// a time, in emission order.
pub trait LogSink: Send + Sync + 'static {
    fn deliver(&self, batch: &[LogRecord]);
}

impl<F: Fn(&[LogRecord]) + Send + Sync + 'static> LogSink for F {
    fn deliver(&self, batch: &[LogRecord]) {
        self(batch)
    }
}

/// Why a sink could not be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoggingError {
    /// The process already has a global `tracing` subscriber that is not
    /// this module's (a Rust host installed its own).
    #[error("another tracing subscriber is already installed in this process")]
    ForeignSubscriber,
    /// The `mtproto-log` thread could not be started.
    #[error("the log thread could not start: {0}")]
    Thread(String),
}

/// Installs `sink` (replacing any earlier one) and sets the level. `None`
/// turns forwarding off. Records queued for an earlier sink go to the new one.
///
/// When this returns, an earlier sink is no longer running and is never
/// called again (unless the call came from inside that sink, which then
/// finishes its batch), so whatever it refers to can be freed.
pub fn set_sink(level: Option<LogLevel>, sink: Arc<dyn LogSink>) -> Result<(), LoggingError> {
    let hub = hub()?;
    let old = {
        let mut st = hub.wait_idle(hub.lock());
        st.sink.replace(sink)
    };
    drop(old);
    set_max_level(level);
    Ok(())
}

/// Removes the sink and stops forwarding. Records still queued are dropped.
/// When this returns, the old sink is no longer running and is never
/// called again.
pub fn clear_sink() {
    if let Some(Ok(hub)) = HUB.get() {
        set_max_level(None);
        let old = {
            let mut st = hub.wait_idle(hub.lock());
            st.queue.clear();
            st.dropped = 0;
            st.sink.take()
        };
        drop(old);
    }
}

/// Changes the level without changing the sink.
pub fn set_max_level(level: Option<LogLevel>) {
    let n = level.map_or(0, |l| l as u8);
    if LEVEL.swap(n, Ordering::SeqCst) != n {
        // `tracing` caches each callsite's interest and the process-wide
        // maximum; both must be recomputed for the change to take effect.
        tracing::callsite::rebuild_interest_cache();
    }
}

/// The level records are forwarded at, `None` when off.
pub fn max_level() -> Option<LogLevel> {
    LogLevel::from_number(LEVEL.load(Ordering::Relaxed))
}

/// Waits until every record queued so far has been handed to the sink and
/// the sink has returned, or `timeout` passes. Returns whether the queue
/// was drained. Useful before exit and in tests.
pub fn flush(timeout: Duration) -> bool {
    let Some(Ok(hub)) = HUB.get() else {
        return true;
    };
    if IN_LOG_THREAD.with(|f| f.get()) {
        // Called by the sink: the batch it is delivering cannot finish first.
        return false;
    }
    let deadline = Instant::now() + timeout;
    let mut st = hub.lock();
    while !st.queue.is_empty() || st.delivering {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        st = hub
            .changed
            .wait_timeout(st, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    true
}

/// 0 = off, otherwise a `LogLevel` number.
static LEVEL: AtomicU8 = AtomicU8::new(0);

static HUB: OnceLock<Result<Arc<Hub>, LoggingError>> = OnceLock::new();

fn hub() -> Result<Arc<Hub>, LoggingError> {
    HUB.get_or_init(|| {
        let hub = Arc::new(Hub::default());
        tracing::subscriber::set_global_default(Forwarder { hub: hub.clone() })
            .map_err(|_| LoggingError::ForeignSubscriber)?;
        let worker = hub.clone();
        std::thread::Builder::new()
            .name("mtproto-log".into())
            .spawn(move || worker.run())
            .map_err(|e| LoggingError::Thread(e.to_string()))?;
        Ok(hub)
    })
    .clone()
}

#[derive(Default)]
struct Hub {
    state: Mutex<HubState>,
    /// Signalled when records arrive and when a batch has been delivered.
    changed: Condvar,
}

#[derive(Default)]
struct HubState {
    queue: VecDeque<LogRecord>,
    /// Records refused since the last delivery because the queue was full.
    dropped: u64,
    sink: Option<Arc<dyn LogSink>>,
    /// The log thread is inside `deliver`.
    delivering: bool,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, st: MutexGuard<'a, HubState>) -> MutexGuard<'a, HubState> {
        self.changed.wait(st).unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the log thread is not inside the sink (at once when
    /// called from the sink itself, which cannot wait for its own return).
    fn wait_idle<'a>(&self, mut st: MutexGuard<'a, HubState>) -> MutexGuard<'a, HubState> {
        while st.delivering && !IN_LOG_THREAD.with(|f| f.get()) {
            st = self.wait(st);
        }
        st
    }

    fn push(&self, record: LogRecord) {
        let mut st = self.lock();
        if st.sink.is_none() {
            return;
        }
        if st.queue.len() >= QUEUE_LIMIT {
            st.dropped += 1;
            return;
        }
        st.queue.push_back(record);
        drop(st);
        self.changed.notify_all();
    }

    /// The `mtproto-log` thread: waits for records and delivers them.
    fn run(&self) {
        IN_LOG_THREAD.with(|f| f.set(true));
        let mut st = self.lock();
        loop {
            while st.queue.is_empty() || st.sink.is_none() {
                st = self.wait(st);
            }
            let sink = st.sink.clone().expect("checked above");
            let mut batch: Vec<LogRecord> = st.queue.drain(..).collect();
            let dropped = std::mem::take(&mut st.dropped);
            if dropped > 0 {
                batch.insert(
                    0,
                    LogRecord {
                        level: LogLevel::Warn,
                        target: "mtproto::logging",
                        message: format!(
                            "{dropped} log records dropped: the host logger fell behind"
                        ),
                    },
                );
            }
            st.delivering = true;
            drop(st);
            // A sink that panics loses its batch, not the thread.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink.deliver(&batch)));
            drop(sink);
            st = self.lock();
            st.delivering = false;
            self.changed.notify_all();
        }
    }
}

thread_local! {
    /// Events emitted by a sink while it delivers are not queued again,
    /// so a host logger that calls back into the library cannot loop.
    static IN_LOG_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The global subscriber [`set_sink`] installs.
struct Forwarder {
    hub: Arc<Hub>,
}

impl tracing::Subscriber for Forwarder {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.is_span() {
            Interest::never()
        } else {
            // The level can change at any time; `enabled` decides per event.
            Interest::sometimes()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.is_event()
            && max_level().is_some_and(|max| LogLevel::of(meta.level()) <= max)
            && !IN_LOG_THREAD.with(|f| f.get())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LogLevel::filter(max_level()))
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut visitor = Format::default();
        event.record(&mut visitor);
        self.hub.push(LogRecord {
            level: LogLevel::of(meta.level()),
            target: meta.target(),
            message: visitor.finish(),
        });
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Formats an event as `message key=value key=value`.
#[derive(Default)]
struct Format {
    message: String,
    fields: String,
}

impl Format {
    fn finish(mut self) -> String {
        if self.message.is_empty() {
            self.fields.trim_start().to_string()
        } else {
            self.message.push_str(&self.fields);
            self.message
        }
    }
}

impl Visit for Format {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test owns the process-wide subscriber in this test binary, so
    /// every assertion about it lives here.
    #[test]
    fn records_reach_the_sink_in_order_at_the_chosen_level() {
        let seen = Arc::new(Mutex::new(Vec::<LogRecord>::new()));
        let sink = seen.clone();
        set_sink(
            Some(LogLevel::Info),
            Arc::new(move |batch: &[LogRecord]| sink.lock().unwrap().extend_from_slice(batch)),
        )
        .unwrap();
        assert_eq!(max_level(), Some(LogLevel::Info));

        tracing::info!(session = 7, reason = %"eof", "connection lost");
        tracing::debug!("not at info");
        tracing::warn!(code = -404, "key lost");
        assert!(flush(Duration::from_secs(5)));
        {
            let seen = seen.lock().unwrap();
            let ours: Vec<_> = seen
                .iter()
                .filter(|r| r.target == module_path!())
                .map(|r| (r.level, r.message.as_str()))
                .collect();
            assert_eq!(
                ours,
                [
                    (LogLevel::Info, "connection lost session=7 reason=eof"),
                    (LogLevel::Warn, "key lost code=-404"),
                ]
            );
        }

        // A lower level takes effect at once, for callsites already seen.
        set_max_level(Some(LogLevel::Trace));
        for i in 0..3 {
            tracing::trace!(i, "now visible");
        }
        set_max_level(None);
        tracing::error!("off");
        assert!(flush(Duration::from_secs(5)));
        let n = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.message.starts_with("now visible"))
            .count();
        assert_eq!(n, 3);
        assert!(!seen.lock().unwrap().iter().any(|r| r.message == "off"));

        // A full queue drops records and says so.
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (held, count) = (gate.clone(), Arc::new(Mutex::new(Vec::new())));
        let counted = count.clone();
        set_sink(
            Some(LogLevel::Info),
            Arc::new(move |batch: &[LogRecord]| {
                let (open, cv) = &*held;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
                counted.lock().unwrap().extend_from_slice(batch);
            }),
        )
        .unwrap();
        tracing::info!("first: blocks the sink");
        std::thread::sleep(Duration::from_millis(100));
        for i in 0..QUEUE_LIMIT + 10 {
            tracing::info!(i, "flood");
        }
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        assert!(flush(Duration::from_secs(10)));
        let got = count.lock().unwrap();
        assert!(
            got.iter().any(|r| r.level == LogLevel::Warn
                && r.message
                    .ends_with("log records dropped: the host logger fell behind")),
            "{:?}",
            got.iter().take(3).collect::<Vec<_>>()
        );
        drop(got);
        clear_sink();
        tracing::error!("after clear");
        assert!(flush(Duration::from_secs(1)));
    }

    #[test]
    fn level_numbers_are_stable() {
        for n in 1..=5 {
            assert_eq!(LogLevel::from_number(n).unwrap() as u8, n);
        }
        assert_eq!(LogLevel::from_number(0), None);
        assert_eq!(LogLevel::from_number(6), None);
        assert!(LogLevel::Error < LogLevel::Trace);
    }
}
