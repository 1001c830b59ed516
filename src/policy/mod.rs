//! Every permission decision of Castellan is made here: which role may perform which action,
//! under which conditions and on which fields. Grants are held in an in-memory snapshot, so a
//! request costs no database round trip for authorization; the snapshot is rebuilt whenever an
//! administrator changes grants.

pub mod actions;
pub mod catalogue;
pub mod conditions;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use anyhow::Context as _;

pub use catalogue::{Catalogue, CatalogueEntry, Requirement};
pub use conditions::{Condition, ConditionOutcome, ConditionRule, ConditionSource};

use crate::auth::Principal;
use crate::db::Db;
use crate::db::models::{NewPermission, NewRole, Permission, Role, now};
use crate::error::{AppError, AppResult};

/// A role's grant of one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub action: String,
    /// Names of conditions, any one of which must hold; empty = always.
    pub conditions: Vec<String>,
    /// When set, the only fields the grant reaches.
    pub fields: Option<Vec<String>>,
}

#[derive(Debug, Default)]
struct RoleGrants {
    role_type: String,
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
#[derive(Debug, Default)]
pub struct Policy {
    snapshot: RwLock<Arc<Snapshot>>,
    /// Conditions that do not live in the database: built in, from the configuration, from code.
    fixed_conditions: Vec<Arc<Condition>>,
}

impl Policy {
    /// Reads every role, grant and stored condition from the database; `fixed` are the
    /// conditions from elsewhere (built in, configuration, code).
    pub async fn load(db: &Db, fixed: Vec<Condition>) -> AppResult<Self> {
        let policy = Self {
            snapshot: RwLock::default(),
            fixed_conditions: fixed.into_iter().map(Arc::new).collect(),
        };
        policy.reload(db).await?;
        Ok(policy)
    }

    /// Rebuilds the snapshot from the database; the next request sees the change.
    pub async fn reload(&self, db: &Db) -> AppResult<()> {
        let mut conn = db.conn().await?;
        let roles = Role::all(&mut conn).await?;
        let permissions = Permission::all(&mut conn).await?;
        let mut snapshot = Snapshot::build(&roles, &permissions)?;
        for condition in &self.fixed_conditions {
            snapshot
                .conditions
                .insert(condition.name.clone(), condition.clone());
        }
        *self
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(snapshot);
        Ok(())
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
                Principal::Public => Err(AppError::Forbidden {
                    details: serde_json::json!({ "reason": "a signed-in user is required", "role": "public" }),
                }),
            },
            Requirement::Action(action) => {
                let snapshot = self.current();
                let role = match principal {
                    Principal::User(user) => Some(user.role.id),
                    Principal::Public => snapshot.public_role,
                }
                .and_then(|id| snapshot.roles.get(&id));
                let Some(role) = role else {
                    return Err(AppError::missing_action(action, "none"));
                };
                match role.grants.get(action.as_str()) {
                    Some(grant) => Ok(Some(grant.clone())),
                    None => Err(AppError::missing_action(action, &role.role_type)),
                }
            }
        }
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
                    role_type: role.role_type.clone(),
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
    let mut conn = db.conn().await?;
    for (role_type, name, description, granted) in defaults {
        let document_id = crate::util::new_document_id();
        let new_role = NewRole {
            document_id: &document_id,
            name,
            description,
            role_type,
            created_at: now(),
            updated_at: now(),
        };
        let Some(role) = new_role.insert_if_absent(&mut conn).await? else {
            continue;
        };
        let rows: Vec<NewPermission<'_>> = granted
            .iter()
            .map(|action| NewPermission {
                role_id: role.id,
                action,
                conditions: "[]",
                fields: None,
                created_at: now(),
                updated_at: now(),
            })
            .collect();
        NewPermission::insert_many(&rows, &mut conn).await?;
        tracing::info!(role = role_type, grants = rows.len(), "seeded default role");
    }
    Ok(())
}
