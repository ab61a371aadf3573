//! Keeping SIGPIPE from killing the caller while we write a hook's stdin.
//!
//! A hook may exit without reading its stdin; writing to the pipe then raises
//! SIGPIPE, whose default action kills the caller. Pipes have no
//! `MSG_NOSIGNAL`, and the process's disposition must not change (the
//! container init's signals are the container's business), so SIGPIPE is
//! blocked in this thread only while we write, any SIGPIPE we caused is
//! taken off the pending set, and the old mask is restored.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use super::sys;

/// Blocks SIGPIPE in the calling thread until dropped.
pub(super) struct SigpipeGuard {
    old_mask: SigSet,
    was_pending: bool,
    raised: bool,
}

impl SigpipeGuard {
    /// Blocks SIGPIPE, remembering the previous mask.
    pub fn block() -> nix::Result<Self> {
        let was_pending = sys::sigpipe_pending();
        let mut set = SigSet::empty();
        set.add(Signal::SIGPIPE);
        let old_mask = set.thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
        Ok(Self {
            old_mask,
            was_pending,
            raised: false,
        })
    }

    /// Records that a write failed with EPIPE, so a SIGPIPE is now pending.
    pub fn note_epipe(&mut self) {
        self.raised = true;
    }
}

impl Drop for SigpipeGuard {
    fn drop(&mut self) {
        // A SIGPIPE pending from before is not ours to take (signals do not
        // queue, so ours merged into it).
        if self.raised && !self.was_pending {
            sys::take_pending_sigpipe();
        }
        // Restoring a mask we just read cannot fail for a valid set; there is
        // nothing more to do in a destructor if it did.
        let _ = self.old_mask.thread_set_mask();
    }
}
