//! When and from where each token was last used (`last_used_at`, `last_used_ip`), recorded
//! coalesced as GitHub does: at most once a minute per token, gathered in process and written
//! in batches off the request path, so that authenticating stays a read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::model::ids::TokenId;
use crate::model::token::TokenUse;

/// A token's use is written at most this often.
pub fn interval() -> Duration {
    Duration::seconds(60)
}

#[derive(Default)]
pub struct TokenUses {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Uses waiting for the next write.
    pending: HashMap<TokenId, TokenUse>,
    /// When each token's use was last written (pruned after [`interval`]).
    written: HashMap<TokenId, DateTime<Utc>>,
}

impl TokenUses {
    /// Notes a use. Cheap when the token's use was written within the interval or is
    /// already waiting: nothing is allocated then.
    pub fn note(&self, token: TokenId, at: DateTime<Utc>, ip: IpAddr) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.pending.contains_key(&token)
            || inner
                .written
                .get(&token)
                .is_some_and(|&w| at - w < interval())
        {
            return;
        }
        inner.pending.insert(
            token,
            TokenUse {
                token_id: token,
                at,
                ip: ip.to_string(),
            },
        );
    }

    /// The uses to write now.
    pub fn take(&self) -> Vec<TokenUse> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.pending.drain().map(|(_, u)| u).collect()
    }

    /// `uses` were written at `now`.
    pub fn written(&self, uses: &[TokenUse], now: DateTime<Utc>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.written.retain(|_, &mut w| now - w < interval());
        for u in uses {
            inner.written.insert(u.token_id, u.at);
        }
    }

    /// `uses` could not be written: they wait for the next write (unless a newer use of the
    /// same token arrived meanwhile).
    pub fn put_back(&self, uses: Vec<TokenUse>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for u in uses {
            inner.pending.entry(u.token_id).or_insert(u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_written_at_most_once_a_minute() {
        let uses = TokenUses::default();
        let (a, b) = (TokenId::new(), TokenId::new());
        let t0 = Utc::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..100 {
            uses.note(a, t0 + Duration::milliseconds(i), ip);
        }
        uses.note(b, t0, ip);
        let batch = uses.take();
        assert_eq!(batch.len(), 2, "one pending use per token");
        assert!(batch.iter().any(|u| u.token_id == a && u.at == t0));
        uses.written(&batch, t0);
        uses.note(a, t0 + Duration::seconds(59), ip);
        assert!(uses.take().is_empty(), "written less than a minute ago");
        uses.note(a, t0 + Duration::seconds(61), ip);
        let next = uses.take();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].at, t0 + Duration::seconds(61));
    }

    #[test]
    fn a_failed_write_is_tried_again() {
        let uses = TokenUses::default();
        let a = TokenId::new();
        let t0 = Utc::now();
        uses.note(a, t0, "2001:db8::1".parse().unwrap());
        let batch = uses.take();
        uses.put_back(batch.clone());
        assert_eq!(uses.take(), batch);
    }
}
