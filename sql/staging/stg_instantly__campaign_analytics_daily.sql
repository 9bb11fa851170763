-- stg_instantly__campaign_analytics_daily: one row per Instantly campaign and UTC day (grain: campaign_id, day).
-- Renames and casts instantly.campaign_analytics_daily (GET /api/v2/campaigns/analytics/daily).
-- sent counts emails; contacted, new_leads_contacted and the unique_* counts are distinct leads that day.
select
    cast(d.campaign_id as text) as campaign_id,
    cast(d.day as date) as day,
    cast(d.sent as bigint) as sent,
    cast(d.contacted as bigint) as contacted,
    cast(d.new_leads_contacted as bigint) as new_leads_contacted,
    cast(d.opened as bigint) as opens,
    cast(d.unique_opened as bigint) as unique_opened,
    cast(d.replies as bigint) as replies,
    cast(d.unique_replies as bigint) as unique_replies,
    cast(d.replies_automatic as bigint) as replies_automatic,
    cast(d.unique_replies_automatic as bigint) as unique_replies_automatic,
    cast(d.clicks as bigint) as clicks,
    cast(d.unique_clicks as bigint) as unique_clicks,
    cast(d.opportunities as bigint) as opportunities,
    cast(d.unique_opportunities as bigint) as unique_opportunities
from {{ source('instantly', 'campaign_analytics_daily') }} as d
