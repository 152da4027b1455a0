-- Users, sessions, sign-in attempts and the audit trail.

create or replace function set_updated_at() returns trigger as $$
begin
    new.updated_at = now();
    return new;
end;
$$ language plpgsql;

-- A person who signed in with GitHub. Keyed by GitHub's numeric id: logins can be renamed.
create table app_user (
    user_id uuid primary key default gen_random_uuid(),
    github_id bigint not null constraint app_user_github_id_key unique,
    login text not null,
    name text,
    avatar_url text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    last_login_at timestamptz not null default now()
);
create trigger app_user_updated_at before update on app_user for each row execute function set_updated_at();

-- A signed-in browser. Only the SHA-256 of the cookie value is stored, never the value itself.
create table session (
    session_id_hash bytea primary key,
    user_id uuid not null references app_user (user_id) on delete cascade,
    -- The organization role GitHub reported at sign-in: 'admin' or 'member'.
    org_role text not null constraint session_org_role_check check (org_role in ('admin', 'member')),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index session_expires_at_idx on session (expires_at);
create index session_user_id_idx on session (user_id);

-- A sign-in that was started: the hash of its `state`, single use, short-lived.
create table oauth_attempt (
    state_hash bytea primary key,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index oauth_attempt_expires_at_idx on oauth_attempt (expires_at);

-- Append-only record of who did what. Never holds a secret.
create table audit_event (
    audit_event_id bigint generated always as identity primary key,
    at timestamptz not null default now(),
    actor_user_id uuid references app_user (user_id),
    actor_login text,
    action text not null,
    service_id uuid,
    service_name text,
    outcome text not null default 'success'
        constraint audit_event_outcome_check check (outcome in ('success', 'failure', 'denied')),
    detail text not null default '',
    request_id text,
    source_ip text
);
create index audit_event_at_idx on audit_event (at desc);
create index audit_event_service_id_idx on audit_event (service_id, at desc);
create index audit_event_actor_login_idx on audit_event (actor_login, at desc);

create or replace function refuse_audit_change() returns trigger as $$
begin
    raise exception 'audit_event is append-only';
end;
$$ language plpgsql;
create trigger audit_event_append_only before update or delete on audit_event
    for each row execute function refuse_audit_change();
