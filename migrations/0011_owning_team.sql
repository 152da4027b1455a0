-- Owning teams (issue 15): every service records the slug of the GitHub team that owns it. Null for services
-- created before teams (and where SHIPYARD_TEAM_REQUIRED=false left it empty). A transfer is audited.

alter table service add column team text
    check (team is null or team ~ '^[a-z0-9][a-z0-9_-]{0,99}$');

-- The inventory filters live services by team (`?team=payments`) in both of its orders, at ten thousand
-- services: each index matches one order (scanned forwards or backwards) so no sort is needed.
create index service_live_team_created_idx on service (team, created_at, service_id) where status <> 'deleted';
create index service_live_team_name_idx on service (team, name, service_id) where status <> 'deleted';

alter table audit_event drop constraint audit_event_action_check;
alter table audit_event add constraint audit_event_action_check check (action in
    ('login', 'logout', 'create', 'retry', 'delete_requested', 'provisioned', 'step_failed', 'delete_done',
     'session_ended', 'drift_detected', 'drift_resolved', 'repair_requested', 'role_requested',
     'role_removal_requested', 'drift_check_requested', 'team_changed'));
