//! Events to containerd, in order: one thread forwards a FIFO queue through the
//! crate's publisher (`TTRPC_ADDRESS`), so callers never block on containerd and
//! an event queued before another is delivered before it.

use std::sync::mpsc;
use std::time::Duration;

use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::Context;

enum Item {
    Event(&'static str, Box<dyn MessageDyn>),
    Flush(mpsc::Sender<()>),
}

/// The sending side of the queue.
pub struct Events {
    tx: mpsc::Sender<Item>,
}

impl Events {
    /// Starts the forwarding thread.
    pub fn start(publisher: RemotePublisher, namespace: String) -> Events {
        let (tx, rx) = mpsc::channel::<Item>();
        let spawned = std::thread::Builder::new()
            .name("events".into())
            .spawn(move || {
                for item in rx {
                    match item {
                        Item::Event(topic, ev) => {
                            if let Err(e) =
                                publisher.publish(Context::default(), topic, &namespace, ev)
                            {
                                log::warn!("publish {topic}: {e}");
                            }
                        }
                        Item::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot start the event thread: {e}");
        }
        Events { tx }
    }

    /// Queues an event.
    pub fn send(&self, topic: &'static str, ev: impl MessageDyn) {
        log::debug!("event {topic}: {ev:?}");
        let _ = self.tx.send(Item::Event(topic, Box::new(ev)));
    }

    /// Waits (up to `t`) until everything queued so far has been forwarded.
    pub fn flush(&self, t: Duration) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Item::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(t);
        }
    }
}
