-- stg_instantly__campaigns: one row per Instantly campaign (grain: campaign_id).
-- Renames and casts instantly.campaigns (GET /api/v2/campaigns); ids stay uuid strings, status
-- stays Instantly's integer code.
select
    cast(c.id as text) as campaign_id,
    cast(c.name as text) as name,
    cast(c.status as bigint) as status_code,
    cast(c.timestamp_created as timestamp with time zone) as created_at
from {{ source('instantly', 'campaigns') }} as c
