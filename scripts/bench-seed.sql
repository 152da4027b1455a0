-- The inventory benchmark's data (scripts/bench-inventory.sh): 20 users and :services services created by them,
-- spread over the three environments, 90% ready and 10% failed (so the reconciler has nothing to do), one a
-- minute back in time, with the outputs a ready service shows. Names look like `payments-svc-123`, so
-- `q=svc-12` matches 111 of 10,000 (svc-12, svc-120..129, svc-1200..1299) before the environment filter.
--
--   psql -v services=10000 -f scripts/bench-seed.sql
\set ON_ERROR_STOP on

-- GitHub ids 900001.. are not in github-sim's sandbox seed, so bob's bearer sign-in adds its own row.
insert into app_user (github_id, login, name, avatar_url)
select 900000 + g, 'bench-user-' || g, 'Bench User ' || g, 'https://avatars.example/u/' || (900000 + g)
from generate_series(1, 20) g;

with users as (select array_agg(user_id order by github_id) as ids from app_user where github_id > 900000)
insert into service (name, org, environment, visibility, template, default_branch, description, status,
                     created_by, created_at, updated_at, html_url, ssh_url, ecr_repository_uri, role_arn,
                     error_step, error_message)
select name, 'acme', (array['dev', 'staging', 'prod'])[1 + g % 3], (array['private', 'internal'])[1 + g % 2],
       (array['acme/service-template', 'acme/worker-template'])[1 + g % 2], 'main',
       'Benchmark service number ' || g, case when g % 10 = 0 then 'failed' else 'ready' end,
       users.ids[1 + g % 20], created_at, created_at,
       'https://github.com/acme/' || name, 'git@github.com:acme/' || name || '.git',
       '123456789012.dkr.ecr.us-east-1.amazonaws.com/' || name,
       'arn:aws:iam::123456789012:role/shipyard-' || name,
       case when g % 10 = 0 then 'first_build' end,
       case when g % 10 = 0 then 'The first build failed: see the Actions run.' end
from users, generate_series(1, :services) g,
     lateral (select (array['payments', 'orders', 'billing', 'search', 'auth', 'ledger'])[1 + g % 6]
                     || '-svc-' || g as name,
                     now() - g * interval '1 minute' as created_at) n;

-- The state a live table reaches through autovacuum, made deterministic: a bulk insert leaves every new trigram in
-- the GIN index's pending list, which the planner prices so high that `name ilike` scans the table instead (16 ms
-- against 0.2 ms for `q=svc-12` here), until autovacuum happens to flush it in the middle of a run.
vacuum (analyze) service, app_user;
