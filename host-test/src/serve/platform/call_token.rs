//! The cancellation of one call made for a client: the connection closed, or the client gone.

use tokio_util::sync::CancellationToken;

/// The token of one call made for a client: cancelled when `parent` is (the connection closed) or when
/// `hung_up` is (the client went away), by a small task that ends when this is dropped.
pub(super) struct CallToken {
    pub(super) token: CancellationToken,
    watch: Option<tokio::task::JoinHandle<()>>,
}

impl CallToken {
    pub(super) fn new(parent: &CancellationToken, hung_up: &CancellationToken) -> CallToken {
        let token = parent.child_token();
        let watch = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (hung_up, call) = (hung_up.clone(), token.clone());
            runtime.spawn(async move {
                tokio::select! {
                    _ = hung_up.cancelled() => call.cancel(),
                    _ = call.cancelled() => {}
                }
            })
        });
        CallToken { token, watch }
    }
}

impl Drop for CallToken {
    fn drop(&mut self) {
        if let Some(watch) = self.watch.take() {
            watch.abort();
        }
    }
}
