-- Ownership rules (issue 16): the adoption window is anchored to a step's first start, role names are
-- unique regardless of case (IAM's rule), and a refused drift check is audited.

-- When the step first started, kept across Retry and Repair: `github_repository` adopts an existing
-- repository only when GitHub created it near this moment (the first generate request), so a
-- repository someone else generated later under the name is never taken for ours.
alter table step add column first_started_at timestamptz;
update step set first_started_at = started_at where started_at is not null;

-- IAM role names are unique regardless of case: two roles of a service whose names differ only in
-- case would be one IAM role. (The default role is not a row; the command compares against it.)
create unique index service_role_iam_role_key on service_role (service_id, lower(iam_role));

alter table audit_event drop constraint audit_event_action_check;
alter table audit_event add constraint audit_event_action_check check (action in
    ('login', 'logout', 'create', 'retry', 'delete_requested', 'provisioned', 'step_failed', 'delete_done',
     'session_ended', 'drift_detected', 'drift_resolved', 'repair_requested', 'role_requested',
     'role_removal_requested', 'drift_check_requested'));
