-- dim_sequence: one row per vendor and sequence (grain: vendor, sequence_id).
-- Reply.io sequences, Saleshandy sequences and Instantly campaigns in one list. sequence_id is
-- text for every vendor (Reply's integer ids as digits), so the key is (vendor, sequence_id).
-- status is lowercase: Reply's own (new, active, paused; archived when isArchived), Saleshandy's
-- active flag (active / inactive), Instantly's code by its documented name. created_at is NULL
-- for Saleshandy, whose API gives no creation time.
select
    'reply_io' as vendor,
    cast(r.sequence_id as text) as sequence_id,
    r.name as name,
    case when r.is_archived then 'archived' else lower(r.status) end as status,
    r.created_at as created_at
from {{ ref('stg_reply_io__sequences') }} as r
union all
select
    'saleshandy' as vendor,
    s.sequence_id as sequence_id,
    s.name as name,
    case when s.is_active then 'active' when not s.is_active then 'inactive' end as status,
    cast(null as timestamp with time zone) as created_at
from {{ ref('stg_saleshandy__sequences') }} as s
union all
select
    'instantly' as vendor,
    c.campaign_id as sequence_id,
    c.name as name,
    case c.status_code
        when 0 then 'draft'
        when 1 then 'active'
        when 2 then 'paused'
        when 3 then 'completed'
        when 4 then 'running subsequences'
        when -99 then 'account suspended'
        when -1 then 'accounts unhealthy'
        when -2 then 'bounce protect'
    end as status,
    c.created_at as created_at
from {{ ref('stg_instantly__campaigns') }} as c
