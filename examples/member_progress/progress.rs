//! The "member progress" endpoint of the forum thread in Castellan's design documents — a
//! custom route that kept answering 401 — written against Castellan's library API: one GraphQL
//! field and one REST route, both protected by the action `api::member-progress.get`, and an
//! `own-progress` condition that limits a member to their own rows.

use async_graphql::{Context, Object, SimpleObject};
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use castellan::auth::Principal;
use castellan::filter::{ColumnKind, FieldMap, Location};
use castellan::{
    Access, AppResult, AppState, Authorized, Builder, Castellan, Condition, Config, NoExtension,
};
use diesel::prelude::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde::Serialize;

/// The action both the field and the route need. Grant it like any other.
pub const GET_PROGRESS: &str = "api::member-progress.get";

diesel::table! {
    member_progress (user_id, course) {
        user_id -> Integer,
        course -> Text,
        percent -> Integer,
    }
}

/// One row of a member's progress.
#[derive(Debug, Clone, Serialize, SimpleObject, Queryable)]
#[serde(rename_all = "camelCase")]
pub struct MemberProgress {
    pub user_id: i32,
    pub course: String,
    pub percent: i32,
}

/// What the endpoint answers: who asked, and the rows they may see.
#[derive(Debug, Clone, Serialize, SimpleObject)]
pub struct ProgressReport {
    /// The username of the caller, or the name of the API token.
    pub viewer: Option<String>,
    pub rows: Vec<MemberProgress>,
}

/// `own-progress`: a member sees the rows whose `userId` is theirs.
pub fn own_progress() -> Condition {
    #[expect(clippy::expect_used, reason = "a fixed query object, which the tests parse")]
    Condition::query(
        "own-progress",
        "Own progress",
        &serde_json::json!({ "userId": "$user.id" }),
    )
    .expect("a valid query object")
    .with_category("member-progress")
    .with_plugin("api::member-progress")
}

/// Where the paths of the conditions live in our own table.
struct ProgressColumns;

impl FieldMap for ProgressColumns {
    fn locate(&self, path: &[&str]) -> Option<Location> {
        let column = |sql: &str, kind| {
            Some(Location::Column {
                sql: sql.to_string(),
                kind,
            })
        };
        match path {
            ["userId"] => column("member_progress.user_id", ColumnKind::Integer),
            ["course"] => column("member_progress.course", ColumnKind::Text),
            ["percent"] => column("member_progress.percent", ColumnKind::Integer),
            _ => None,
        }
    }
}

/// The rows `access` reaches: its conditions become part of the SQL.
async fn report(
    app: &AppState,
    principal: &Principal,
    access: &Access,
) -> AppResult<ProgressReport> {
    let scope = access.sql(app.db.backend(), &ProgressColumns)?;
    let mut conn = app.db.conn().await?;
    let rows: Vec<MemberProgress> = castellan::on_conn!(&mut conn, |c| {
        let mut query = member_progress::table
            .order((member_progress::user_id, member_progress::course))
            .into_boxed();
        if let Some(scope) = scope.clone() {
            query = query.filter(scope);
        }
        query.load(c).await
    })?;
    // Conditions SQL cannot answer exactly (e.g. whole-object equality) select a superset of the
    // rows; each row must then pass them in memory, as the document the paths name.
    let rows = match scope.as_ref().and_then(|scope| scope.residue()) {
        None => rows,
        Some(residue) => rows
            .into_iter()
            .filter(|row| serde_json::to_value(row).is_ok_and(|doc| residue.matches(&doc)))
            .collect(),
    };
    let viewer = match principal {
        Principal::User(user) => Some(user.user.username.clone()),
        Principal::ApiToken(token) => Some(token.name.clone()),
        Principal::Public => None,
    };
    Ok(ProgressReport { viewer, rows })
}

/// The GraphQL side: `memberProgress`.
#[derive(Default)]
pub struct ProgressQuery;

#[Object]
impl ProgressQuery {
    /// The member progress the caller may see.
    #[graphql(directive = castellan::action::apply(GET_PROGRESS.into()))]
    async fn member_progress(&self, ctx: &Context<'_>) -> async_graphql::Result<ProgressReport> {
        let (app, principal) = castellan::graphql::request(ctx)?;
        let access = app.policy.access(principal, GET_PROGRESS)?;
        Ok(report(app, principal, &access).await?)
    }
}

/// The REST side: `GET /api/progress`, answering `{data: {viewer, rows}}`.
async fn progress_route(State(app): State<AppState>, authorized: Authorized) -> Response {
    let Some(access) = authorized.access.as_ref() else {
        return castellan::http::rest_error(&castellan::AppError::internal(anyhow::anyhow!(
            "no grant"
        )));
    };
    match report(&app, &authorized.principal, access).await {
        Ok(report) => Json(serde_json::json!({ "data": report })).into_response(),
        Err(error) => castellan::http::rest_error(&error),
    }
}

/// Castellan with the member-progress field, route and condition.
pub fn builder(config: Config) -> Builder<ProgressQuery, NoExtension> {
    Castellan::builder(config)
        .query(ProgressQuery)
        .condition(own_progress())
        .route(Method::GET, "/api/progress", GET_PROGRESS, progress_route)
}

/// Creates the example's table (our own, next to Castellan's).
pub async fn create_table(app: &AppState) -> AppResult<()> {
    let mut conn = app.db.conn().await?;
    castellan::on_conn!(&mut conn, |c| c
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS member_progress (
                user_id INTEGER NOT NULL, course TEXT NOT NULL, percent INTEGER NOT NULL,
                PRIMARY KEY (user_id, course))",
        )
        .await)?;
    Ok(())
}

/// Records a member's progress in a course.
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "the tests that drive this example record progress"
    )
)]
pub async fn record(app: &AppState, user_id: i32, course: &str, percent: i32) -> AppResult<()> {
    let mut conn = app.db.conn().await?;
    castellan::on_conn!(&mut conn, |c| diesel::insert_into(member_progress::table)
        .values((
            member_progress::user_id.eq(user_id),
            member_progress::course.eq(course),
            member_progress::percent.eq(percent),
        ))
        .execute(c)
        .await)?;
    Ok(())
}
