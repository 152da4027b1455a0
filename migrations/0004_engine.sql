-- The engine: per-claim lease tokens, back-off for claims that make no progress, parked steps.

-- A claim is a token, not a process: a process that re-claims its own expired lease gets a new token,
-- so writes made under the old claim are refused.
alter table service drop column lease_owner;
alter table service add column lease_token uuid;
-- Not claimed again before this (a parked step's wake-up time, or back-off after passes that made no
-- progress); a person's request (retry, delete) clears it.
alter table service add column not_before timestamptz;
-- Passes in a row that ended without recording a step result: the back-off grows with it.
alter table service add column idle_claims integer not null default 0;

-- A waiting step is parked until wake_at: it watches something slow without holding a worker.
alter table step drop constraint step_status_check;
alter table step add constraint step_status_check
    check (status in ('pending', 'running', 'waiting', 'done', 'failed'));
alter table step add column wake_at timestamptz;
-- Starts since a result was last recorded; a step that keeps dying mid-run is failed, not restarted forever.
alter table step add column unfinished_starts integer not null default 0;

drop index service_work_idx;
create index service_work_idx on service (coalesce(not_before, updated_at)) where status in ('provisioning', 'deleting');

-- Audit actions are a closed set (the Rust enum `AuditAction`); the database refuses others.
alter table audit_event add constraint audit_event_action_check check (action in
    ('login', 'logout', 'create', 'retry', 'delete_requested', 'provisioned', 'step_failed', 'delete_done', 'session_ended'));
