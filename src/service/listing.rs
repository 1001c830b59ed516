//! Pagination and sorting of lists, with Strapi's rules.

use crate::db::sql::SqlOrder;
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

/// `ORDER BY` text for Strapi sort strings (`"username:asc"`, `"id:desc"`, `"email"`), over
/// `columns` (GraphQL name → SQL column); the id breaks ties so pages are stable.
pub fn order_by(
    sort: &[String],
    columns: &[(&str, &'static str)],
    id_column: &'static str,
) -> AppResult<SqlOrder> {
    let mut parts = Vec::new();
    for item in sort {
        let (field, direction) = item.split_once(':').unwrap_or((item.as_str(), "asc"));
        let direction = match direction.to_ascii_lowercase().as_str() {
            "asc" => "ASC",
            "desc" => "DESC",
            other => {
                return Err(AppError::validation(format!(
                    "Invalid sort order `{other}` for `{field}`: use asc or desc"
                )));
            }
        };
        let column = columns
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, column)| *column)
            .ok_or_else(|| {
                let known: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
                AppError::validation(format!(
                    "Cannot sort by `{field}`: sortable fields are {}",
                    known.join(", ")
                ))
            })?;
        parts.push(format!("{column} {direction}"));
    }
    parts.push(format!("{id_column} ASC"));
    Ok(SqlOrder::new(parts.join(", "), sort.is_empty()))
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

    #[test]
    fn sorting_accepts_known_fields_only() {
        let columns = [("username", "u.username"), ("id", "u.id")];
        assert_eq!(
            order_by(&["username:desc".into()], &columns, "u.id").unwrap(),
            SqlOrder::new("u.username DESC, u.id ASC".into(), false)
        );
        assert_eq!(
            order_by(&[], &columns, "u.id").unwrap(),
            SqlOrder::new("u.id ASC".into(), true)
        );
        assert!(order_by(&["password:asc".into()], &columns, "u.id").is_err());
        assert!(order_by(&["username:sideways".into()], &columns, "u.id").is_err());
    }
}
