-- fct_step_variant: one row per vendor, sequence, step and variant (grain: vendor, sequence_id, step, variant).
-- Counts per send (emails: one per person and step), rates per sent email, and an A/B verdict
-- for every step with two or more variants. A sum with any NULL part (a day or an email whose
-- value is unknown) is NULL.
--   Reply.io: the latest step/variant snapshot of each sequence (cumulative to that day); variant
--     is Reply's variant id; sent = delivered + not reached (the stats have no sent count).
--   Saleshandy: every loaded email by step; its stats have no variant, so variant is 'all'.
--   Instantly: the loaded days summed; variant is the letter (A = "0"), step -1 / variant
--     'unattributed' is what Instantly could not tie to a step or variant.
-- The A/B test, in steps of two or more variants: each variant's reply rate (replied / sent)
-- against the step's best variant (the highest reply rate among variants with known sent and
-- replied and at least min_sends sends; ties go to more sends, then the lower variant: the
-- shorter name, then the name's UTF-8 bytes, so Reply's id 9 comes before 10 and Instantly's Z
-- before AA, whatever the collation), by a two-sided two-proportion z-test with a pooled
-- proportion (p = 1 when the pooled rate is 0 or 1: equal rates). The p-value is
-- erfc(|z| / sqrt 2), by Abramowitz-Stegun 7.1.26 (error < 1.5e-7). verdict is one of:
--   'best', 'significantly worse' (p < alpha), 'not significantly different',
--   'counts unknown' (sent or replied is NULL: not reported, or unreadable; no p-value),
--   'too few sends' (this variant, or every variant of the step, below min_sends),
--   'single variant' (the step has one variant), 'no variant breakdown' (Saleshandy, and
--   Instantly's unattributed row).
with params as (
    select cast(100 as bigint) as min_sends, cast(0.05 as double precision) as alpha
),

latest_reply_io_snapshot as (
    select
        s.sequence_id as sequence_id,
        max(s.snapshot_day) as snapshot_day
    from {{ ref('stg_reply_io__step_stats_snapshots') }} as s
    group by s.sequence_id
),

counts as (
    select
        'reply_io' as vendor,
        cast(s.sequence_id as text) as sequence_id,
        s.step_number as step,
        cast(s.variant_id as text) as variant,
        true as is_variant,
        s.delivered + s.not_reached as sent,
        s.delivered as delivered,
        s.opened as opened,
        s.clicked as clicked,
        s.replied as replied,
        s.interested as positive,
        s.not_reached as bounced,
        s.opted_out as unsubscribed,
        s.meetings_booked as meetings_booked
    from {{ ref('stg_reply_io__step_stats_snapshots') }} as s
    inner join latest_reply_io_snapshot as l
        on l.sequence_id = s.sequence_id and l.snapshot_day = s.snapshot_day
    union all
    select
        'saleshandy' as vendor,
        e.sequence_id as sequence_id,
        e.step_number as step,
        'all' as variant,
        false as is_variant,
        {{ known_sum('e.sent') }} as sent,
        {{ known_sum('e.delivered') }} as delivered,
        {{ known_sum('e.opened') }} as opened,
        {{ known_sum('e.clicked') }} as clicked,
        {{ known_sum('e.replied') }} as replied,
        {{ known_sum('e.positive') }} as positive,
        {{ known_sum('e.bounced') }} as bounced,
        {{ known_sum('e.unsubscribed') }} as unsubscribed,
        cast(null as bigint) as meetings_booked
    from {{ ref('int_saleshandy__email_counts') }} as e
    group by e.sequence_id, e.step_number
    union all
    select
        'instantly' as vendor,
        i.campaign_id as sequence_id,
        i.step as step,
        i.variant as variant,
        i.variant <> 'unattributed' as is_variant,
        {{ known_sum('i.sent') }} as sent,
        cast(null as bigint) as delivered,
        {{ known_sum('i.unique_opened') }} as opened,
        {{ known_sum('i.unique_clicks') }} as clicked,
        {{ known_sum('i.unique_replies') }} as replied,
        {{ known_sum('i.unique_opportunities') }} as positive,
        cast(null as bigint) as bounced,
        cast(null as bigint) as unsubscribed,
        cast(null as bigint) as meetings_booked
    from {{ ref('stg_instantly__step_analytics_daily') }} as i
    group by i.campaign_id, i.step, i.variant
),

rated as (
    select
        c.vendor, c.sequence_id, c.step, c.variant, c.is_variant, c.sent, c.delivered, c.opened, c.clicked,
        c.replied, c.positive, c.bounced, c.unsubscribed, c.meetings_booked,
        cast(c.replied as double precision) / nullif(c.sent, 0) as reply_rate,
        count(case when c.is_variant then 1 end) over (partition by c.vendor, c.sequence_id, c.step) as variants
    from counts as c
),

best as (
    select
        r.vendor, r.sequence_id, r.step, r.variant, r.sent, r.replied, r.reply_rate,
        row_number() over (
            partition by r.vendor, r.sequence_id, r.step
            order by r.reply_rate desc nulls last, r.sent desc, length(r.variant), {{ text_bytes('r.variant') }}
        ) as rank_in_step
    from rated as r
    cross join params as p
    -- a variant whose counts are unknown is never the best (and its NULL rate never sorts first)
    where r.is_variant and r.variants >= 2 and r.sent >= p.min_sends and r.replied is not null
),

tested as (
    select
        r.*,
        b.variant as best_variant,
        b.sent as best_sent,
        b.replied as best_replied,
        b.reply_rate as best_reply_rate,
        coalesce(r.is_variant and b.variant is not null and r.variant <> b.variant and r.sent >= p.min_sends
                 and r.replied is not null, false) as is_tested
    from rated as r
    cross join params as p
    left join best as b
        on b.vendor = r.vendor and b.sequence_id = r.sequence_id and b.step = r.step and b.rank_in_step = 1
),

scored as (
    select
        t.*,
        case when t.is_tested then (t.reply_rate - t.best_reply_rate) / nullif(sqrt(
            (cast(t.replied + t.best_replied as double precision) / (t.sent + t.best_sent))
            * (1.0 - cast(t.replied + t.best_replied as double precision) / (t.sent + t.best_sent))
            * (1.0 / cast(t.sent as double precision) + 1.0 / cast(t.best_sent as double precision))
        ), 0) end as z
    from tested as t
),

verdicts as (
    select
        s.*,
        case
            when not s.is_tested then cast(null as double precision)
            when s.z is null then cast(1.0 as double precision)  -- pooled rate 0 or 1: both rates equal
            else {{ two_sided_p_value('s.z') }}
        end as p_value
    from scored as s
)

select
    v.vendor as vendor,
    v.sequence_id as sequence_id,
    v.step as step,
    v.variant as variant,
    v.sent as sent,
    v.delivered as delivered,
    v.opened as opened,
    v.clicked as clicked,
    v.replied as replied,
    v.positive as positive,
    v.meetings_booked as meetings_booked,
    v.bounced as bounced,
    v.unsubscribed as unsubscribed,
    cast(v.opened as double precision) / nullif(v.sent, 0) as open_rate,
    cast(v.clicked as double precision) / nullif(v.sent, 0) as click_rate,
    v.reply_rate as reply_rate,
    cast(v.positive as double precision) / nullif(v.sent, 0) as positive_rate,
    v.best_variant as best_variant,
    v.p_value as p_value,
    case when v.is_tested then v.p_value < p.alpha end as is_significant,
    case
        when not v.is_variant then 'no variant breakdown'
        when v.variants < 2 then 'single variant'
        when v.sent is null or v.replied is null then 'counts unknown'
        when v.best_variant is null or v.sent < p.min_sends then 'too few sends'
        when v.variant = v.best_variant then 'best'
        when v.p_value < p.alpha then 'significantly worse'
        else 'not significantly different'
    end as verdict
from verdicts as v
cross join params as p
