//! Strapi's pagination argument and `pageInfo`.

use async_graphql::{InputObject, SimpleObject};

use crate::service::listing::{PageInfo, PageRequest};

/// `page`/`pageSize` (default 10, at most 100) or `start`/`limit`.
#[derive(Debug, Default, Clone, Copy, InputObject)]
pub struct PaginationArg {
    pub page: Option<i32>,
    pub page_size: Option<i32>,
    pub start: Option<i32>,
    pub limit: Option<i32>,
}

impl From<PaginationArg> for PageRequest {
    fn from(p: PaginationArg) -> Self {
        PageRequest {
            page: p.page.map(i64::from),
            page_size: p.page_size.map(i64::from),
            start: p.start.map(i64::from),
            limit: p.limit.map(i64::from),
        }
    }
}

#[derive(Debug, Clone, Copy, SimpleObject)]
pub struct Pagination {
    pub total: i32,
    pub page: i32,
    pub page_size: i32,
    pub page_count: i32,
}

impl From<PageInfo> for Pagination {
    fn from(info: PageInfo) -> Self {
        let int = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        Self {
            total: int(info.total),
            page: int(info.page),
            page_size: int(info.page_size),
            page_count: int(info.page_count),
        }
    }
}
