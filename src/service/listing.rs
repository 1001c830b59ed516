//! Pagination and sorting of lists, with Strapi's rules.

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE_SIZE: i64 = 10;
pub const MAX_PAGE_SIZE: i64 = 100;

/// A requested page: `page`/`pageSize` or `start`/`limit`, never both.
#[derive(Debug, Default, Clone, Copy)]
pub struct PageRequest {
    pub page: Option<i64>,
    pub page_size: Option<i64>,
    pub start: Option<i64>,
    pub limit: Option<i64>,
}

/// A resolved page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

/// `pageInfo` of a `_connection` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
    pub page_count: i64,
}

impl PageRequest {
    pub fn resolve(self) -> AppResult<Page> {
        let by_page = self.page.is_some() || self.page_size.is_some();
        let by_offset = self.start.is_some() || self.limit.is_some();
        if by_page && by_offset {
            return Err(AppError::validation(
                "Cannot use both page & start pagination in the same query",
            ));
        }
        let size = |n: Option<i64>, name: &str| -> AppResult<i64> {
            match n {
                None => Ok(DEFAULT_PAGE_SIZE),
                Some(n) if n < 1 => Err(AppError::validation(format!("{name} must be at least 1"))),
                Some(n) => Ok(n.min(MAX_PAGE_SIZE)),
            }
        };
        if by_offset {
            let start = self.start.unwrap_or(0);
            if start < 0 {
                return Err(AppError::validation("start must be at least 0"));
            }
            return Ok(Page {
                offset: start,
                limit: size(self.limit, "limit")?,
            });
        }
        let page = self.page.unwrap_or(1);
        if page < 1 {
            return Err(AppError::validation("page must be at least 1"));
        }
        let page_size = size(self.page_size, "pageSize")?;
        Ok(Page {
            offset: (page - 1) * page_size,
            limit: page_size,
        })
    }
}

impl Page {
    pub fn info(self, total: i64) -> PageInfo {
        PageInfo {
            total,
            page: self.offset / self.limit + 1,
            page_size: self.limit,
            page_count: (total + self.limit - 1) / self.limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_strapis_rules() {
        assert_eq!(
            PageRequest::default().resolve().unwrap(),
            Page {
                offset: 0,
                limit: 10
            }
        );
        let p = PageRequest {
            page: Some(3),
            page_size: Some(20),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(
            p,
            Page {
                offset: 40,
                limit: 20
            }
        );
        let p = PageRequest {
            start: Some(5),
            limit: Some(500),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(
            p,
            Page {
                offset: 5,
                limit: 100
            },
            "capped at 100"
        );
        assert!(
            PageRequest {
                page: Some(1),
                start: Some(0),
                ..Default::default()
            }
            .resolve()
            .is_err()
        );
        assert!(
            PageRequest {
                page: Some(0),
                ..Default::default()
            }
            .resolve()
            .is_err()
        );
        assert_eq!(
            Page {
                offset: 20,
                limit: 10
            }
            .info(25),
            PageInfo {
                total: 25,
                page: 3,
                page_size: 10,
                page_count: 3
            }
        );
        assert_eq!(
            Page {
                offset: 0,
                limit: 10
            }
            .info(0)
            .page_count,
            0
        );
    }
}
