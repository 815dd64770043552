//! The dispatcher thread: the only place where user callbacks run.
//!
//! Session tasks hand it updates, state events and request completions
//! through an unbounded channel whose `send` never blocks, so a callback
//! that takes a second (or forever) holds up later callbacks only: the
//! network thread keeps reading, acknowledging, pinging and answering other
//! requests. It delivers in batches: whatever is queued when it wakes is
//! grouped per session and handed over in one call, which is what makes
//! expensive foreign-thread attachment (JNI, the GIL) affordable.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use crate::client::{SessionShared, StateEvent};

/// The most items taken from the channel per wake-up.
const MAX_BATCH_ITEMS: usize = 4096;

/// Work for the dispatcher.
pub(crate) enum DispatchItem {
    Updates(Arc<SessionShared>, Vec<Vec<u8>>),
    State(Arc<SessionShared>, StateEvent),
    /// An update handler was set: hand it what was buffered.
    Flush(Arc<SessionShared>),
    /// A completion callback with its result bound in.
    Call(Box<dyn FnOnce() + Send>),
}

/// The sending side, held by session tasks. Sending never blocks.
#[derive(Clone)]
pub(crate) struct Dispatch {
    tx: mpsc::Sender<DispatchItem>,
}

impl Dispatch {
    pub fn send(&self, item: DispatchItem) {
        // Fails only after the dispatcher exited, i.e. during shutdown,
        // when nobody is left to call.
        let _ = self.tx.send(item);
    }
}

/// Starts the dispatcher thread. It exits once every [`Dispatch`] is gone
/// and the queue is drained.
pub(crate) fn start(name: &str) -> std::io::Result<(Dispatch, thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(name.into())
        .spawn(move || run(rx))?;
    Ok((Dispatch { tx }, handle))
}

fn run(rx: mpsc::Receiver<DispatchItem>) {
    let mut items = Vec::new();
    while let Ok(first) = rx.recv() {
        items.push(first);
        while items.len() < MAX_BATCH_ITEMS {
            match rx.try_recv() {
                Ok(item) => items.push(item),
                Err(_) => break,
            }
        }
        deliver(std::mem::take(&mut items));
    }
}

/// Delivers items in order, merging consecutive update batches of the
/// same session into one call.
fn deliver(items: Vec<DispatchItem>) {
    let mut group: Option<(Arc<SessionShared>, Vec<Vec<u8>>)> = None;
    for item in items {
        match item {
            DispatchItem::Updates(session, batch) => match &mut group {
                Some((s, acc)) if Arc::ptr_eq(s, &session) => acc.extend(batch),
                _ => {
                    if let Some((s, acc)) = group.take() {
                        deliver_updates(&s, acc);
                    }
                    group = Some((session, batch));
                }
            },
            other => {
                if let Some((s, acc)) = group.take() {
                    deliver_updates(&s, acc);
                }
                match other {
                    DispatchItem::State(session, event) => deliver_state(&session, event),
                    DispatchItem::Flush(session) => {
                        deliver_updates(&session, Vec::new());
                        flush_states(&session);
                    }
                    DispatchItem::Call(f) => guarded("completion callback", f),
                    DispatchItem::Updates(..) => {}
                }
            }
        }
    }
    if let Some((s, acc)) = group {
        deliver_updates(&s, acc);
    }
}

/// Hands the state events kept while no handler was set to a new handler.
fn flush_states(session: &SessionShared) {
    if let Some(handler) = session.state_handler() {
        for e in session.take_pending_states() {
            guarded("state handler", || handler(&e));
        }
    }
}

/// Runs a callback; a panic is logged and swallowed so that one faulty
/// handler neither kills the dispatcher nor unwinds into foreign code.
fn guarded(what: &str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        tracing::error!("{what} panicked; the panic was caught");
    }
}

/// Hands `fresh` (and anything buffered before it, which is older) to the
/// session's handler, or buffers it for pulling when there is none.
fn deliver_updates(session: &SessionShared, fresh: Vec<Vec<u8>>) {
    match session.update_handler() {
        Some(handler) => {
            let mut all = session.updates.take_all();
            if all.is_empty() {
                all = fresh;
            } else {
                all.extend(fresh);
            }
            if !all.is_empty() {
                guarded("update handler", || handler(&all));
            }
        }
        None if !fresh.is_empty() => session.updates.push(fresh),
        None => {}
    }
}

fn deliver_state(session: &SessionShared, event: StateEvent) {
    match session.state_handler() {
        Some(handler) => {
            // Events kept while no handler was set come first.
            for e in session.take_pending_states() {
                guarded("state handler", || handler(&e));
            }
            guarded("state handler", || handler(&event));
        }
        None => session.buffer_state(event.clone()),
    }
    if event == StateEvent::Closed {
        // After the last updates of the session were handed over.
        session.updates.close();
    }
}
