//! Keeping the long-lived shim small.
//!
//! A shim lives as long as its container, so every page it keeps is paid for once
//! per container. Two glibc allocator settings matter: per-thread arenas (each
//! ttrpc handler thread would get its own, keeping its own freed memory), and freed
//! memory inside the heap that glibc keeps mapped until asked to give it back.

/// One malloc arena for the whole process: the shim's threads rarely allocate at
/// the same time, so contention costs nothing, and one arena fragments less.
/// Call first thing in `main`, before any thread exists.
pub fn single_arena() {
    // SAFETY: mallopt only changes an allocator tunable; no thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Returns the heap's free pages to the kernel. Called after the RPCs that parse
/// large documents or spawn helpers (create, start, exec, delete): all rare next
/// to the life of the shim.
pub fn trim() {
    // SAFETY: malloc_trim only releases free heap memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
