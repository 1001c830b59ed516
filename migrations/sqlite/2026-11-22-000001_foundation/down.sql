DROP TABLE up_permissions;
DROP TABLE up_users;
DROP TABLE up_roles;
