-- Drift: a ready service whose resources no longer match what Shipyard made is `drifted`, with what
-- the last check found; Repair (or the resources coming back) returns it to `ready`.
alter table service drop constraint service_status_check;
alter table service add constraint service_status_check
    check (status in ('provisioning', 'ready', 'drifted', 'failed', 'deleting', 'delete_failed', 'deleted'));
-- The findings of the last check that found a difference (a JSON array of
-- {resource, problem, expected, found, repair}); null when the last check found none.
alter table service add column drift jsonb;
-- When the drift check last read this service's resources.
alter table service add column drift_checked_at timestamptz;

alter table audit_event drop constraint audit_event_action_check;
alter table audit_event add constraint audit_event_action_check check (action in
    ('login', 'logout', 'create', 'retry', 'delete_requested', 'provisioned', 'step_failed', 'delete_done',
     'session_ended', 'drift_detected', 'drift_resolved', 'repair_requested'));
