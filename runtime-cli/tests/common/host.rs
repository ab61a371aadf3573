//! Host directories and mounts a test needs as bind-mount sources, undone when
//! the bundle is dropped.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::Bundle;

impl Bundle {
    /// Remembers a host path to remove on drop (files a test expects never to exist).
    pub fn register_host_path(&self, p: &Path) {
        self.host_paths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p.to_path_buf());
    }

    /// Makes a host directory (under the bundle dir, world-writable) for bind mounts.
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        fs::create_dir_all(&p).expect("create host dir");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).expect("chmod host dir");
        p
    }

    /// Mounts a tmpfs on the host at `path` (unmounted on drop): for sources with submounts.
    pub fn host_tmpfs(&self, path: &Path) {
        fs::create_dir_all(path).expect("create mount point");
        let c = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("path");
        // SAFETY: all pointers are valid C strings for the call.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                c.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"mode=755".as_ptr().cast(),
            )
        };
        assert_eq!(
            rc,
            0,
            "mount tmpfs on {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        self.host_mounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.to_path_buf());
    }

    /// Makes a host mount made by [`Bundle::host_tmpfs`] shared.
    pub fn host_make_shared(&self, path: &Path) {
        let c = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("path");
        // SAFETY: valid C string; null source/type/data are allowed for a propagation change.
        let rc = unsafe {
            libc::mount(
                std::ptr::null(),
                c.as_ptr(),
                std::ptr::null(),
                libc::MS_SHARED,
                std::ptr::null(),
            )
        };
        assert_eq!(
            rc,
            0,
            "make {} shared: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
}
