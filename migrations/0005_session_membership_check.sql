-- Sessions re-check membership with GitHub on a TTL: when GitHub last confirmed the session's role.
-- `org_role` is then the role GitHub reported at that check, not only at sign-in.
alter table session add column membership_checked_at timestamptz not null default now();
comment on column session.org_role is 'The organization role GitHub reported at the last membership check: admin or member.';
