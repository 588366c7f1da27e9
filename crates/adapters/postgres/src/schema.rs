//! The tables of `migrations/`, for diesel's query builder. Kept by hand in step with the
//! migrations (the contract tests run every query against the migrated schema).

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        account_type -> Text,
        password_hash -> Text,
        created_at -> Timestamptz,
        ip_allowlist -> Array<Text>,
    }
}

diesel::table! {
    profiles (user_id) {
        user_id -> Uuid,
        name -> Text,
        headline -> Nullable<Text>,
        skills -> Array<Text>,
        location -> Nullable<Text>,
        links -> Array<Text>,
        resume_text -> Nullable<Text>,
        company -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    settings (user_id) {
        user_id -> Uuid,
        timezone -> Text,
        notifications -> Jsonb,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        scopes -> Array<Text>,
        token_hash -> Bytea,
        last4 -> Text,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        last_used_ip -> Nullable<Text>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        secret_hash -> Bytea,
        csrf_token -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Uuid,
        key -> Uuid,
        fingerprint -> Bytea,
        created_at -> Timestamptz,
        response_status -> Nullable<Int2>,
        response_content_type -> Nullable<Text>,
        response_body -> Nullable<Bytea>,
    }
}

diesel::table! {
    rate_limit_overrides (user_id, class) {
        user_id -> Uuid,
        class -> Text,
        per_minute -> Int4,
    }
}

diesel::table! {
    events (id) {
        id -> Uuid,
        owner_id -> Uuid,
        title -> Text,
        description -> Nullable<Text>,
        company -> Nullable<Text>,
        starts_at -> Nullable<Timestamptz>,
        ends_at -> Nullable<Timestamptz>,
        job_ids -> Array<Text>,
        status -> Text,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        ended_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    event_interviewers (event_id, user_id) {
        event_id -> Uuid,
        user_id -> Uuid,
        available -> Bool,
        idle_since -> Timestamptz,
    }
}

diesel::table! {
    queue_entries (seeker_id) {
        seeker_id -> Uuid,
        event_id -> Uuid,
        joined_at -> Timestamptz,
        state -> Text,
        match_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    matches (id) {
        id -> Uuid,
        event_id -> Uuid,
        seeker_id -> Uuid,
        interviewer_id -> Uuid,
        status -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        seeker_accepted_at -> Nullable<Timestamptz>,
        interviewer_accepted_at -> Nullable<Timestamptz>,
        ended_at -> Nullable<Timestamptz>,
        declined_by -> Nullable<Text>,
        room_name -> Nullable<Text>,
        started_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    room_tickets (secret_hash) {
        secret_hash -> Bytea,
        match_id -> Uuid,
        user_id -> Uuid,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Int8,
        kind -> Text,
        event_id -> Nullable<Uuid>,
        user_ids -> Array<Uuid>,
        payload -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    queue_counts (event_id, shard) {
        event_id -> Uuid,
        shard -> Int2,
        waiting -> Int4,
    }
}

diesel::joinable!(rate_limit_overrides -> users (user_id));
diesel::joinable!(profiles -> users (user_id));
diesel::joinable!(settings -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(idempotency_keys -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    profiles,
    settings,
    api_tokens,
    sessions,
    idempotency_keys,
    rate_limit_overrides,
    events,
    event_interviewers,
    queue_entries,
    matches,
    room_tickets,
    outbox,
    queue_counts,
);
