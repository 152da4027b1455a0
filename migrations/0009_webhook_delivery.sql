-- GitHub webhook deliveries already acted on, by `X-GitHub-Delivery`: GitHub redelivers with the same id (a
-- manual redelivery, or a retry after a timeout), and a duplicate must change nothing. The service is kept
-- for the audit of what woke it; rows go with the service.
create table webhook_delivery (
    delivery_id text not null,
    service_id uuid not null,
    event text not null,
    received_at timestamptz not null default now(),
    constraint webhook_delivery_pkey primary key (delivery_id),
    constraint webhook_delivery_service_fkey foreign key (service_id) references service (service_id) on delete cascade
);

-- A delivery names its repository by id (`X-GitHub-Hook-Installation-Target-ID`); the service is found by the id
-- its github_repository step recorded.
create index step_github_repository_id_idx on step (((outputs ->> 'id')::bigint)) where step = 'github_repository';

-- The github_webhook step is new: services made before it get its row, so their step set matches the table.
-- Those still being created run it (pending); the rest made no hook and are polled, as they always were.
insert into step (service_id, step, status, outputs, finished_at)
select s.service_id, 'github_webhook',
    case when s.status in ('provisioning', 'failed') then 'pending' else 'done' end,
    case when s.status in ('provisioning', 'failed') then '{}'::jsonb
         else '{"hook_id": null, "note": "made before Shipyard had webhooks: the first build was polled"}'::jsonb end,
    case when s.status in ('provisioning', 'failed') then null else now() end
from service s
where exists (select 1 from step st where st.service_id = s.service_id and st.step = 'first_build')
on conflict do nothing;
