//! The tables, written once for both backends: only types SQLite and PostgreSQL share.
//! JSON documents are kept as text; timestamps are UTC without zone.

diesel::table! {
    up_roles (id) {
        id -> Integer,
        document_id -> Text,
        name -> Text,
        description -> Text,
        #[sql_name = "type"]
        role_type -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    up_users (id) {
        id -> Integer,
        document_id -> Text,
        username -> Text,
        email -> Text,
        unique_email -> Nullable<Text>,
        provider -> Text,
        password -> Nullable<Text>,
        reset_password_token -> Nullable<Text>,
        reset_password_expires_at -> Nullable<Timestamp>,
        confirmation_token -> Nullable<Text>,
        confirmed -> Bool,
        blocked -> Bool,
        role_id -> Integer,
        attributes -> Text,
        tokens_valid_after -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        token_generation -> BigInt,
    }
}

diesel::table! {
    up_permissions (id) {
        id -> Integer,
        role_id -> Integer,
        action -> Text,
        conditions -> Text,
        fields -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    up_used_oauth_states (digest) {
        digest -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    up_development_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(up_users -> up_roles (role_id));
diesel::joinable!(up_permissions -> up_roles (role_id));
diesel::allow_tables_to_appear_in_same_query!(
    up_roles,
    up_users,
    up_permissions,
    up_settings,
    up_conditions,
    up_api_tokens
);

diesel::table! {
    up_settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    up_conditions (name) {
        name -> Text,
        display_name -> Text,
        category -> Nullable<Text>,
        query -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    up_api_tokens (id) {
        id -> Integer,
        document_id -> Text,
        name -> Text,
        description -> Text,
        #[sql_name = "type"]
        token_type -> Text,
        access_key -> Text,
        actions -> Text,
        lifespan -> Nullable<BigInt>,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    up_sessions (id) {
        id -> Text,
        user_id -> Integer,
        device_id -> Nullable<Text>,
        device_name -> Text,
        refresh_hash -> Text,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        idle_expires_at -> BigInt,
        absolute_expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    up_session_used_tokens (hash) {
        hash -> Text,
        session_id -> Text,
    }
}

diesel::joinable!(up_session_used_tokens -> up_sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(up_sessions, up_session_used_tokens);
