-- Extra push roles on a service (another branch, release tags, a deployment environment), and step rows
-- per role: the same step runs once for each role, told apart by `instance` (the role's name; '' for the
-- service's own steps).

create table service_role (
    service_id uuid not null references service (service_id) on delete cascade,
    -- The last part of the IAM role name; the role's name in the API and its steps' instance.
    name text not null constraint service_role_name_check check (name <> ''),
    kind text not null constraint service_role_kind_check check (kind in ('branch', 'tag', 'environment')),
    -- The branch, the tag pattern (`v*`) or the environment, as given.
    value text not null,
    iam_role text not null,
    -- The repository secret (branch, tag) or environment secret (environment) that holds the ARN.
    secret text not null,
    -- 'absent' while its removal runs; the row goes when the removal is done.
    desired text not null default 'present' constraint service_role_desired_check check (desired in ('present', 'absent')),
    created_by uuid not null references app_user (user_id),
    created_at timestamptz not null default now(),
    constraint service_role_pkey primary key (service_id, name)
);
-- Two roles never write one repository secret; environments are case-insensitive on GitHub.
create unique index service_role_secret_key on service_role (service_id, secret) where kind <> 'environment';
create unique index service_role_environment_key on service_role (service_id, lower(value)) where kind = 'environment';

alter table step add column instance text not null default '';
alter table step drop constraint step_pkey;
alter table step add constraint step_pkey primary key (service_id, step, instance);

alter table audit_event drop constraint audit_event_action_check;
alter table audit_event add constraint audit_event_action_check check (action in
    ('login', 'logout', 'create', 'retry', 'delete_requested', 'provisioned', 'step_failed', 'delete_done',
     'session_ended', 'drift_detected', 'drift_resolved', 'repair_requested', 'role_requested',
     'role_removal_requested'));
