//! Cursor pagination: newest first, by id (ids are time-ordered). The cursor is opaque to
//! clients: base64url of the last id on the page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// A validated page request over ids of type `I`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest<I> {
    pub limit: u32,
    /// Return items strictly older than this one.
    pub after: Option<I>,
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("must be an integer between 1 and 100")]
    Limit,
    #[error("is not a cursor this list produced")]
    Cursor,
}

impl<I: std::str::FromStr> PageRequest<I> {
    pub fn parse(
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Self, (&'static str, PageError)> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return Err(("limit", PageError::Limit)),
            },
        };
        let after = match cursor {
            None | Some("") => None,
            Some(c) => {
                let raw = URL_SAFE_NO_PAD
                    .decode(c)
                    .map_err(|_| ("cursor", PageError::Cursor))?;
                let s = String::from_utf8(raw).map_err(|_| ("cursor", PageError::Cursor))?;
                Some(s.parse::<I>().map_err(|_| ("cursor", PageError::Cursor))?)
            }
        };
        Ok(PageRequest { limit, after })
    }
}

/// The request for one more item than the page holds, so [`Page::from_overfetch`] can tell
/// whether more follow.
pub fn overfetch<I>(page: PageRequest<I>) -> PageRequest<I> {
    PageRequest {
        limit: page.limit + 1,
        after: page.after,
    }
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` items fetched newest first.
    pub fn from_overfetch(mut items: Vec<T>, limit: u32, id_of: impl Fn(&T) -> String) -> Self {
        let has_more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if has_more {
            items.last().map(|last| URL_SAFE_NO_PAD.encode(id_of(last)))
        } else {
            None
        };
        Page {
            data: items,
            has_more,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            has_more: self.has_more,
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::TokenId;

    #[test]
    fn limits_and_cursors() {
        let p = PageRequest::<TokenId>::parse(None, None).unwrap();
        assert_eq!(p.limit, 20);
        assert!(PageRequest::<TokenId>::parse(Some("0"), None).is_err());
        assert!(PageRequest::<TokenId>::parse(Some("101"), None).is_err());
        assert!(PageRequest::<TokenId>::parse(Some("abc"), None).is_err());
        assert_eq!(
            PageRequest::<TokenId>::parse(None, Some("!!"))
                .unwrap_err()
                .0,
            "cursor"
        );
        let ids: Vec<TokenId> = (0..3).map(|_| TokenId::new()).collect();
        let page = Page::from_overfetch(ids.clone(), 2, |i| i.to_string());
        assert!(page.has_more);
        let next = PageRequest::<TokenId>::parse(Some("2"), page.next_cursor.as_deref()).unwrap();
        assert_eq!(next.after, Some(ids[1]));
    }
}
