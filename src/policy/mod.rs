//! Every permission decision of Castellan is made here: which role may perform which action,
//! under which conditions and on which fields. Grants are held in an in-memory snapshot, so a
//! request costs no database round trip for authorization; the snapshot is rebuilt whenever an
//! administrator changes grants.

pub mod actions;
pub mod catalogue;
pub mod conditions;
pub mod roles;
pub mod subject;
pub mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use anyhow::Context as _;

pub use catalogue::{Catalogue, CatalogueEntry, FieldRule, Requirement};
pub use conditions::{Condition, ConditionOutcome, ConditionRule, ConditionSource};

use crate::auth::Principal;
use crate::db::Db;
use crate::db::models::{NewRole, Permission, Role, StoredCondition, now};
use crate::error::{AppError, AppResult};
use crate::filter::Filter;

/// A role's grant of one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub action: String,
    /// Names of conditions, any one of which must hold; empty = always.
    pub conditions: Vec<String>,
    /// When set, the only fields the grant reaches.
    pub fields: Option<Vec<String>>,
}

/// A role as the database held it when the snapshot was built, and its grants.
#[derive(Debug)]
struct RoleGrants {
    row: Arc<Role>,
    grants: HashMap<String, Arc<Grant>>,
}

/// All grants of all roles, and all conditions, at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    roles: HashMap<i32, RoleGrants>,
    public_role: Option<i32>,
    conditions: BTreeMap<String, Arc<Condition>>,
}

/// The policy: the current snapshot, swapped whole when grants or conditions change.
pub struct Policy {
    /// The snapshot in force, and the ticket of the reload that built it.
    snapshot: RwLock<(u64, Arc<Snapshot>)>,
    /// Handed to each reload as it starts: of two reloads that overlap (a change made here
    /// and another instance's announced one), the one that started last read the newest
    /// database, and an older one finishing after it must not replace its snapshot.
    tickets: std::sync::atomic::AtomicU64,
    /// Conditions that do not live in the database: built in, from the configuration, from code.
    fixed_conditions: Vec<Arc<Condition>>,
    /// Where conditions find users' fields (the declared attributes among them), in both
    /// dialects: for checking a condition before it narrows a grant.
    user_fields: subject::UserFields,
    /// Conditions on users compiled to SQL for this database, each filter once.
    pub user_sql: crate::filter::SqlCache,
}

impl Policy {
    /// Reads every role, grant and stored condition from the database; `fixed` are the
    /// conditions from elsewhere (built in, configuration, code).
    /// `attributes` are the users' declared attributes: a condition naming a private one is
    /// refused.
    pub async fn load(
        db: &Db,
        fixed: Vec<Condition>,
        attributes: Arc<crate::db::fields::UserAttributes>,
    ) -> AppResult<Self> {
        for condition in &fixed {
            if let Some(path) = condition.private_attribute_path(&attributes) {
                return Err(AppError::internal(anyhow::anyhow!(
                    "the condition `{}`: {}",
                    condition.name,
                    crate::filter::FilterError::PrivateAttribute { path }
                )));
            }
        }
        let policy = Self {
            snapshot: RwLock::default(),
            tickets: std::sync::atomic::AtomicU64::new(0),
            fixed_conditions: fixed.into_iter().map(Arc::new).collect(),
            user_sql: subject::user_sql(attributes.clone(), db.backend()),
            user_fields: subject::UserFields {
                attributes,
                dialect: None,
            },
        };
        policy.reload(db).await?;
        Ok(policy)
    }

    /// Rebuilds the snapshot from the database; the next request sees the change.
    pub async fn reload(&self, db: &Db) -> AppResult<()> {
        let ticket = self
            .tickets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let mut conn = db.conn().await?;
        let roles = Role::all(&mut conn).await?;
        let permissions = Permission::all(&mut conn).await?;
        let stored = StoredCondition::all(&mut conn).await?;
        let mut snapshot = Snapshot::build(&roles, &permissions)?;
        for row in stored {
            let declared: serde_json::Value =
                serde_json::from_str(&row.query).map_err(AppError::internal)?;
            match Condition::query(&row.name, &row.display_name, &declared).and_then(|c| {
                match c.private_attribute_path(&self.user_fields.attributes) {
                    Some(path) => Err(crate::filter::FilterError::PrivateAttribute { path }),
                    None => Ok(c),
                }
            }) {
                Ok(condition) => {
                    let mut condition = condition.with_source(ConditionSource::Database);
                    condition.category = row.category;
                    snapshot.conditions.insert(row.name, Arc::new(condition));
                }
                // Stored conditions were checked when created; one that no longer parses
                // allows nothing rather than stopping the server.
                Err(error) => {
                    tracing::error!(condition = %row.name, %error, "stored condition no longer parses")
                }
            }
        }
        for condition in &self.fixed_conditions {
            snapshot
                .conditions
                .insert(condition.name.clone(), condition.clone());
        }
        let mut current = self
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ticket > current.0 {
            *current = (ticket, Arc::new(snapshot));
        }
        Ok(())
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .1
            .clone()
    }

    /// Whether a condition of that name is registered.
    pub fn has_condition(&self, name: &str) -> bool {
        self.current().conditions.contains_key(name)
    }

    /// Every registered condition, by name.
    pub fn conditions(&self) -> Vec<Arc<Condition>> {
        self.current().conditions.values().cloned().collect()
    }

    /// The role with this id, as of the last change of roles or grants. Every change made
    /// through Castellan rebuilds the snapshot before it answers (and, on PostgreSQL, tells the
    /// other instances to), so this is the row the database holds, without a round trip.
    pub fn role(&self, id: i32) -> Option<Arc<Role>> {
        self.current().roles.get(&id).map(|r| r.row.clone())
    }

    /// The grants of a role, sorted by action.
    pub fn grants_of(&self, role_id: i32) -> Vec<Arc<Grant>> {
        let snapshot = self.current();
        let mut grants: Vec<Arc<Grant>> = snapshot
            .roles
            .get(&role_id)
            .map(|r| r.grants.values().cloned().collect())
            .unwrap_or_default();
        grants.sort_by(|a, b| a.action.cmp(&b.action));
        grants
    }

    /// Decides whether `principal` meets `requirement`. On success, the grant that allowed it
    /// (`None` for a requirement that is not an action); otherwise a FORBIDDEN error whose
    /// details name what was missing.
    pub fn authorize(
        &self,
        principal: &Principal,
        requirement: &Requirement,
    ) -> AppResult<Option<Arc<Grant>>> {
        match requirement {
            Requirement::SignedIn => match principal {
                Principal::User(_) => Ok(None),
                Principal::ApiToken(token) => Err(AppError::Forbidden {
                    details: serde_json::json!({ "reason": "a signed-in user is required", "token": token.name }),
                }),
                Principal::Public => Err(AppError::Forbidden {
                    details: serde_json::json!({ "reason": "a signed-in user is required", "role": "public" }),
                }),
            },
            Requirement::Action(action) => {
                if let Principal::ApiToken(token) = principal {
                    // A token has no role: its type (and, for custom tokens, its list) decides,
                    // and it reaches every entity and field of the actions it may perform.
                    return if tokens::token_allows(token, action) {
                        Ok(Some(Arc::new(Grant {
                            action: action.clone(),
                            conditions: Vec::new(),
                            fields: None,
                        })))
                    } else {
                        Err(AppError::Forbidden {
                            details: serde_json::json!({
                                "action": action,
                                "token": token.name,
                                "type": token.token_type.as_str(),
                            }),
                        })
                    };
                }
                let snapshot = self.current();
                let role = match principal {
                    Principal::User(user) => Some(user.role.id),
                    Principal::Public | Principal::ApiToken(_) => snapshot.public_role,
                }
                .and_then(|id| snapshot.roles.get(&id));
                let Some(role) = role else {
                    return Err(AppError::missing_action(action, "none"));
                };
                match role.grants.get(action.as_str()) {
                    Some(grant) => Ok(Some(grant.clone())),
                    None => Err(AppError::missing_action(action, &role.row.role_type)),
                }
            }
        }
    }
}

/// The actions whose conditions are about users, read in memory from
/// [`subject::user_document`] and in SQL through [`subject::UserFields`].
const USER_ACTIONS: &[&str] = &[
    actions::USER_FIND,
    actions::USER_FIND_ONE,
    actions::USER_COUNT,
    actions::USER_CREATE,
    actions::USER_UPDATE,
    actions::USER_DESTROY,
];

impl Policy {
    /// Why the condition `name` cannot narrow a grant of `action`, if it cannot: on the users
    /// actions, every path of a query condition must be a field of a user, or the lists would
    /// fail in SQL at request time. Conditions decided by code, and other actions (whose
    /// entities the library user's own [`crate::filter::FieldMap`] locates), are not checked.
    pub fn condition_misfit(&self, action: &str, name: &str) -> Option<String> {
        if !USER_ACTIONS.contains(&action) {
            return None;
        }
        let snapshot = self.current();
        let ConditionRule::Query(filter) = &snapshot.conditions.get(name)?.rule else {
            return None;
        };
        [
            crate::filter::Dialect::Sqlite,
            crate::filter::Dialect::Postgres,
        ]
        .into_iter()
        .find_map(|dialect| filter.to_sql(dialect, &self.user_fields).err())
        .map(|error| error.to_string())
    }
}

/// The entities a grant reaches for one principal, after its conditions.
#[derive(Debug, Clone)]
pub enum Scope {
    /// No condition, or one that allows everything.
    All,
    /// Every condition denied.
    Nothing,
    /// The entities matching this filter (the conditions' queries, OR-ed, `$user` resolved).
    Only(Filter),
}

/// What a principal may do through one action: the grant and its scope.
#[derive(Debug, Clone)]
pub struct Access {
    pub grant: Arc<Grant>,
    pub scope: Scope,
}

impl Access {
    /// The grant of whoever runs Castellan's command line for `action`: every entity, every
    /// field. Only the operator's commands use it; requests get theirs from the guard.
    pub fn operator(action: &str) -> Self {
        Self {
            grant: Arc::new(Grant {
                action: action.to_string(),
                conditions: Vec::new(),
                fields: None,
            }),
            scope: Scope::All,
        }
    }

    /// The proof a service asks of its caller: a grant of exactly `action`. A grant of another
    /// action handed on by mistake is an internal error, never a permission.
    pub fn require(&self, action: &str) -> AppResult<()> {
        if self.grant.action == action {
            Ok(())
        } else {
            Err(AppError::internal(anyhow::anyhow!(
                "a grant of {} was handed to an operation that needs {action}",
                self.grant.action
            )))
        }
    }

    /// Whether the entity (as a document, e.g. [`subject::user_document`]) is within the scope.
    pub fn allows(&self, document: &serde_json::Value) -> bool {
        match &self.scope {
            Scope::All => true,
            Scope::Nothing => false,
            Scope::Only(filter) => filter.matches(document),
        }
    }

    /// The scope as a WHERE clause over a table of your own, whose columns `fields` maps the
    /// query paths to: `None` when every row is allowed, a clause that matches nothing when no
    /// condition holds. When [`crate::filter::SqlFilter::residue`] is some, the clause selects
    /// a superset (a condition SQL cannot answer exactly), and each selected row must also pass
    /// the residue in memory, as the document its paths name.
    pub fn sql(
        &self,
        dialect: crate::filter::Dialect,
        fields: &dyn crate::filter::FieldMap,
    ) -> AppResult<Option<crate::filter::SqlFilter>> {
        let filter = match &self.scope {
            Scope::All => return Ok(None),
            Scope::Nothing => Filter::nothing(),
            Scope::Only(filter) => filter.clone(),
        };
        filter
            .to_sql(dialect, fields)
            .map(Some)
            .map_err(|e| AppError::internal(anyhow::anyhow!("condition SQL: {e}")))
    }

    /// FORBIDDEN for an entity outside the scope, naming the action and its conditions.
    pub fn outside(&self) -> AppError {
        AppError::Forbidden {
            details: serde_json::json!({
                "action": self.grant.action,
                "conditions": self.grant.conditions,
                "reason": "the entity is outside the conditions of the grant",
            }),
        }
    }

    /// Whether the grant reaches `field`.
    pub fn may_use_field(&self, field: &str) -> bool {
        self.grant
            .fields
            .as_ref()
            .is_none_or(|fields| fields.iter().any(|f| f == field))
    }

    /// FORBIDDEN unless the grant reaches every field in `fields`.
    /// A read that filters or sorts on `fields` may use only the fields the grant reaches
    /// (`id` and `documentId` always).
    pub fn check_read_fields<'a>(
        &self,
        fields: impl IntoIterator<Item = &'a str>,
    ) -> AppResult<()> {
        if self.grant.fields.is_none() {
            return Ok(());
        }
        for field in fields
            .into_iter()
            .filter(|f| *f != "id" && *f != "documentId")
        {
            if !self.may_use_field(field) {
                return Err(self.field_refused(field));
            }
        }
        Ok(())
    }

    /// Whether an entity may be created without naming its role (it then gets the default
    /// role, which no condition was checked against): only under a grant without conditions.
    pub fn may_create_without_role(&self) -> bool {
        matches!(self.scope, Scope::All)
    }

    pub fn check_fields(&self, fields: &[&str]) -> AppResult<()> {
        match fields.iter().find(|f| !self.may_use_field(f)) {
            None => Ok(()),
            Some(field) => Err(self.field_refused(field)),
        }
    }

    pub fn field_refused(&self, field: &str) -> AppError {
        AppError::Forbidden {
            details: serde_json::json!({
                "action": self.grant.action,
                "field": field,
                "fields": self.grant.fields,
                "reason": "the grant does not reach this field",
            }),
        }
    }
}

impl Policy {
    /// The principal's access through `action`: FORBIDDEN without a grant; otherwise the grant
    /// and the entities its conditions let the principal reach.
    pub fn access(&self, principal: &Principal, action: &str) -> AppResult<Access> {
        let grant = self
            .authorize(principal, &Requirement::Action(action.to_string()))?
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!(
                    "an action requirement always yields a grant"
                ))
            })?;
        let scope = self.scope(principal, &grant)?;
        Ok(Access { grant, scope })
    }

    /// Whether a filter may reach across a relation to users (a role's `users`) or to grants
    /// (a role's `permissions`): matching on them reveals them, so it needs the action that
    /// lists them (`user.find`, `permission.find`) without conditions. FORBIDDEN otherwise.
    pub fn may_filter_across(
        &self,
        principal: &Principal,
        users: bool,
        permissions: bool,
    ) -> AppResult<()> {
        for (reached, action) in [
            (users, actions::USER_FIND),
            (permissions, actions::PERMISSION_FIND),
        ] {
            if reached {
                let access = self.access(principal, action)?;
                if !matches!(access.scope, Scope::All) {
                    return Err(access.outside());
                }
            }
        }
        Ok(())
    }

    /// Applies the grant's conditions (alternatives) for this principal.
    fn scope(&self, principal: &Principal, grant: &Grant) -> AppResult<Scope> {
        if grant.conditions.is_empty() {
            return Ok(Scope::All);
        }
        let snapshot = self.current();
        let user = principal.user();
        let document = user.map_or(serde_json::Value::Null, |u| {
            subject::user_document(&u.user, &u.role)
        });
        let mut filters = Vec::new();
        for name in &grant.conditions {
            // A condition deleted since the grant was written allows nothing.
            let Some(condition) = snapshot.conditions.get(name) else {
                continue;
            };
            match &condition.rule {
                // A query whose `$user` values the user lacks reaches nothing (see
                // `Filter::bind`); the other conditions still apply.
                ConditionRule::Query(filter) => {
                    let bound = filter.bind(&document);
                    if !bound.is_nothing() {
                        filters.push(bound);
                    }
                }
                ConditionRule::Code(handler) => match handler(user) {
                    ConditionOutcome::Allow => return Ok(Scope::All),
                    ConditionOutcome::Deny => {}
                    ConditionOutcome::Query(query) => {
                        filters.push(Filter::parse(&query).map_err(|e| {
                            AppError::internal(anyhow::anyhow!(
                                "condition {name} returned a malformed query: {e}"
                            ))
                        })?)
                    }
                },
            }
        }
        Ok(if filters.is_empty() {
            Scope::Nothing
        } else {
            Scope::Only(Filter::any_of(filters))
        })
    }
}

impl Snapshot {
    fn build(roles: &[Role], permissions: &[Permission]) -> AppResult<Self> {
        let mut snapshot = Snapshot::default();
        for role in roles {
            if role.role_type == "public" {
                snapshot.public_role = Some(role.id);
            }
            snapshot.roles.insert(
                role.id,
                RoleGrants {
                    row: Arc::new(role.clone()),
                    grants: HashMap::new(),
                },
            );
        }
        for permission in permissions {
            let conditions: Vec<String> = serde_json::from_str(&permission.conditions)
                .with_context(|| format!("conditions of grant {}", permission.id))?;
            let fields: Option<Vec<String>> = permission
                .fields
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .with_context(|| format!("fields of grant {}", permission.id))?;
            if let Some(role) = snapshot.roles.get_mut(&permission.role_id) {
                role.grants.insert(
                    permission.action.clone(),
                    Arc::new(Grant {
                        action: permission.action.clone(),
                        conditions,
                        fields,
                    }),
                );
            }
        }
        Ok(snapshot)
    }
}

/// The two roles every installation has, with the grants they start with. A role that exists
/// already is left as its administrator made it.
pub async fn seed_default_roles(db: &Db) -> AppResult<()> {
    let defaults: [(&str, &str, &str, &[&str]); 2] = [
        (
            "public",
            "Public",
            "Default role given to unauthenticated user.",
            actions::PUBLIC_DEFAULTS,
        ),
        (
            "authenticated",
            "Authenticated",
            "Default role given to authenticated user.",
            actions::AUTHENTICATED_DEFAULTS,
        ),
    ];
    let document_ids = defaults.map(|_| crate::util::new_document_id());
    let roles: Vec<(NewRole<'_>, &[&str])> = defaults
        .iter()
        .zip(&document_ids)
        .map(|((role_type, name, description, granted), document_id)| {
            let role = NewRole {
                document_id,
                name,
                description,
                role_type,
                created_at: now(),
                updated_at: now(),
            };
            (role, *granted)
        })
        .collect();
    // One transaction: a role is never seen without its grants.
    let mut conn = db.conn().await?;
    for role in NewRole::insert_if_absent_with(&mut conn, &roles).await? {
        let grants = roles
            .iter()
            .find(|(new_role, _)| new_role.role_type == role.role_type)
            .map_or(0, |(_, granted)| granted.len());
        tracing::info!(role = role.role_type, grants, "seeded default role");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::policy::Access;
    use crate::policy::actions::{ROLE_CREATE, USER_CREATE};

    #[test]
    fn a_service_accepts_only_the_grant_of_its_own_action() {
        let access = Access::operator(ROLE_CREATE);
        assert!(access.require(ROLE_CREATE).is_ok());
        let error = access.require(USER_CREATE).unwrap_err();
        assert!(
            matches!(error, crate::error::AppError::Internal(_)),
            "{error:?}"
        );
    }
}
