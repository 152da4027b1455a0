-- Services (the desire and the state) and their steps (one row each, with outputs).

create table service (
    service_id uuid primary key default gen_random_uuid(),
    name text not null,
    org text not null,
    environment text not null,
    visibility text not null constraint service_visibility_check check (visibility in ('private', 'internal', 'public')),
    template text not null,
    default_branch text not null,
    description text not null default '',
    desired text not null default 'present' constraint service_desired_check check (desired in ('present', 'absent')),
    status text not null default 'provisioning' constraint service_status_check
        check (status in ('provisioning', 'ready', 'failed', 'deleting', 'delete_failed', 'deleted')),
    -- Archive the GitHub repository instead of deleting it when the service is deleted.
    keep_repository boolean not null default false,
    created_by uuid not null references app_user (user_id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz,
    -- The reconciler's claim: whoever holds an unexpired lease works on the service; nobody else.
    lease_owner uuid,
    lease_until timestamptz,
    -- Outputs, copied from the steps so the inventory reads one table.
    html_url text,
    ssh_url text,
    ecr_repository_uri text,
    role_arn text,
    -- The step that failed and the provider's message, while status is failed or delete_failed.
    error_step text,
    error_message text
);
create trigger service_updated_at before update on service for each row execute function set_updated_at();

-- A name is taken while a service that is not deleted holds it.
create unique index service_live_name_key on service (name) where status <> 'deleted';
-- The reconciler's queue: services with work to do.
create index service_work_idx on service (updated_at) where status in ('provisioning', 'deleting');
-- The inventory's sort orders and filters.
create index service_live_created_at_idx on service (created_at desc) where status <> 'deleted';
create index service_live_name_idx on service (name) where status <> 'deleted';

create table step (
    service_id uuid not null references service (service_id) on delete cascade,
    step text not null,
    status text not null default 'pending' constraint step_status_check
        check (status in ('pending', 'running', 'done', 'failed')),
    attempts integer not null default 0,
    started_at timestamptz,
    finished_at timestamptz,
    error text,
    outputs jsonb not null default '{}',
    constraint step_pkey primary key (service_id, step)
);

-- Wakes reconcilers at once when a service needs work.
create or replace function notify_service_work() returns trigger as $$
begin
    if new.status in ('provisioning', 'deleting') then
        perform pg_notify('shipyard_service_work', new.service_id::text);
    end if;
    return new;
end;
$$ language plpgsql;
create trigger service_work_notify after insert or update of status on service
    for each row execute function notify_service_work();
