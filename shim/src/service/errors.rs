//! ttrpc statuses: the gRPC codes the task RPCs answer with, and the mapping of
//! library errors to them.

use containerd_shim::protos::ttrpc::{self, Code};

pub(super) fn status_err(code: Code, msg: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg.into()))
}
pub(super) fn not_found(msg: impl Into<String>) -> ttrpc::Error {
    status_err(Code::NOT_FOUND, msg)
}
pub(super) fn precondition(msg: impl Into<String>) -> ttrpc::Error {
    status_err(Code::FAILED_PRECONDITION, msg)
}
pub(super) fn unimplemented(msg: impl Into<String>) -> ttrpc::Error {
    status_err(Code::UNIMPLEMENTED, msg)
}
pub(super) fn internal(msg: impl Into<String>) -> ttrpc::Error {
    status_err(Code::UNKNOWN, msg)
}
pub(super) fn invalid(msg: impl Into<String>) -> ttrpc::Error {
    status_err(Code::INVALID_ARGUMENT, msg)
}

/// Maps a library error to a ttrpc status.
pub(super) fn lib_err(e: husk::Error) -> ttrpc::Error {
    let msg = e.to_string();
    match e {
        husk::Error::State { .. } if msg.contains("not running") => not_found(msg),
        husk::Error::State { .. } => precondition(msg),
        husk::Error::Unsupported(_) => unimplemented(msg),
        _ => internal(msg),
    }
}
