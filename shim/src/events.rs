//! Events to containerd, in order: one thread forwards a FIFO queue to
//! containerd's events service (`TTRPC_ADDRESS`, as the crate's publisher does),
//! so callers never block on containerd and an event queued before another is
//! delivered before it; a failed forward is retried on a new connection.
//!
//! The connection is dropped after [`IDLE`] without events and made again for the
//! next one: ttrpc 0.9's sync client polls its socket every 10 ms while it is
//! open, which would otherwise wake every idle shim 100 times a second.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::shim_sync::EventsClient;
use containerd_shim::protos::ttrpc;
use containerd_shim::publisher::RemotePublisher;

/// How long the connection to containerd stays open without events.
const IDLE: Duration = Duration::from_secs(2);

enum Item {
    Event(&'static str, Any),
    Flush(mpsc::Sender<()>),
}

/// The sending side of the queue.
pub struct Events {
    tx: mpsc::Sender<Item>,
}

impl Events {
    /// Starts the forwarding thread. The crate's publisher (a connection it made
    /// to check containerd is there) is dropped: the thread connects on demand.
    pub fn start(publisher: RemotePublisher, namespace: String) -> Events {
        drop(publisher);
        let (tx, rx) = mpsc::channel::<Item>();
        let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
        let spawned = std::thread::Builder::new()
            .name("events".into())
            .spawn(move || forward(rx, &address, &namespace));
        if let Err(e) = spawned {
            log::error!("cannot start the event thread: {e}");
        }
        Events { tx }
    }

    /// Queues an event (a message of containerd's `containerd.events` package).
    pub fn send<M: Message + std::fmt::Debug>(&self, topic: &'static str, ev: M) {
        log::debug!("event {topic}: {ev:?}");
        match crate::any::pack(crate::any::EVENTS, &ev) {
            Ok(any) => {
                let _ = self.tx.send(Item::Event(topic, any));
            }
            Err(e) => log::warn!("encode {topic}: {e}"),
        }
    }

    /// Waits (up to `t`) until everything queued so far has been forwarded.
    pub fn flush(&self, t: Duration) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Item::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(t);
        }
    }
}

/// A connection to containerd's events service.
struct Conn {
    client: EventsClient,
}

impl Conn {
    fn open(address: &str) -> Result<Conn, String> {
        let fd = containerd_shim::util::connect(address).map_err(|e| e.to_string())?;
        let c = ttrpc::Client::new(fd).map_err(|e| e.to_string())?;
        Ok(Conn {
            client: EventsClient::new(c),
        })
    }
}

fn forward(rx: mpsc::Receiver<Item>, address: &str, namespace: &str) {
    let mut conn: Option<Conn> = None;
    loop {
        let item = match rx.recv_timeout(IDLE) {
            Ok(item) => item,
            Err(RecvTimeoutError::Timeout) => {
                conn = None;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let (topic, any) = match item {
            Item::Event(topic, any) => (topic, any),
            Item::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let mut env = Envelope::new();
        env.set_topic(topic.to_string());
        env.set_namespace(namespace.to_string());
        env.set_timestamp(containerd_shim::util::timestamp().unwrap_or_default());
        env.set_event(any);
        let mut req = ForwardRequest::new();
        req.set_envelope(env);
        // containerd may be restarting: retry with a new connection, as the Go
        // shim's publisher does.
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=5 {
            if conn.is_none() {
                match Conn::open(address) {
                    Ok(c) => conn = Some(c),
                    Err(e) => log::warn!("connect to containerd at {address}: {e}"),
                }
            }
            if let Some(c) = &conn {
                match c
                    .client
                    .forward(ttrpc::context::with_timeout(5_000_000_000), &req)
                {
                    Ok(_) => break,
                    Err(e) => {
                        log::warn!("publish {topic} (attempt {attempt}): {e}");
                        conn = None;
                    }
                }
            }
            if attempt == 5 {
                log::error!("event {topic} lost");
                break;
            }
            std::thread::sleep(delay);
            delay *= 2;
        }
    }
}
