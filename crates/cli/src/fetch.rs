//! Backend fetches for the native driver.

use edgeplay_host::{FetchError, FetchErrorKind, FetchRequest, WorkResult};

/// Perform one backend request.
pub async fn fetch(req: FetchRequest) -> WorkResult {
    WorkResult::FetchFailed(FetchError {
        kind: FetchErrorKind::InternalError,
        message: format!(
            "backend `{}`: the native runner cannot send backend requests yet",
            req.backend
        ),
    })
}
