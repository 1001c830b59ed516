//! Every permission decision of Castellan is made here: which role may perform which action,
//! under which conditions and on which fields. Grants are held in an in-memory snapshot, so a
//! request costs no database round trip for authorization; the snapshot is rebuilt whenever an
//! administrator changes grants.

pub mod actions;
pub mod catalogue;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;

pub use catalogue::{Catalogue, CatalogueEntry, Requirement};

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

/// All grants of all roles at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    roles: HashMap<i32, RoleGrants>,
    public_role: Option<i32>,
}

/// The policy: the current snapshot, swapped whole when grants change.
#[derive(Debug, Default)]
pub struct Policy {
    snapshot: RwLock<Arc<Snapshot>>,
}

impl Policy {
    /// Reads every role and grant from the database.
    pub async fn load(db: &Db) -> AppResult<Self> {
        let policy = Self::default();
        policy.reload(db).await?;
        Ok(policy)
    }

    /// Rebuilds the snapshot from the database; the next request sees the new grants.
    pub async fn reload(&self, db: &Db) -> AppResult<()> {
        let mut conn = db.conn().await?;
        let roles = Role::all(&mut conn).await?;
        let permissions = Permission::all(&mut conn).await?;
        let snapshot = Snapshot::build(&roles, &permissions)?;
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
