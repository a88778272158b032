-- Question: of the customers who first purchased in a given week, how many purchased again in
-- each of the following weeks? (Repeat-purchase retention by cohort week.)
--
-- Definition: a customer's cohort is the week (Monday to Sunday) of the first purchase event.
-- Week N is the N-th calendar week after the cohort week; a customer counts in week_N when at
-- least one purchase falls in that week, and in any_later_week when one falls in any week after
-- the cohort week (including weeks beyond week_4). A second purchase in the cohort week itself
-- is not a repeat here. Weeks are in the server's time zone; for another one give it to both
-- functions, e.g. toMonday(event_time, 'Europe/Berlin') and
-- toRelativeWeekNum(event_time, 'Europe/Berlin').
--
-- How to read the result: one row per cohort week, oldest first. Read a row left to right as
-- a retention curve. Recent cohorts have had fewer later weeks yet, so their numbers are
-- lower by construction: compare cohorts only over weeks all of them have seen.
--
-- Columns:
--   cohort_week      Monday of the week of the first purchase
--   customers        customers whose first purchase was in that week
--   week_1           of them, customers with a purchase in the week after the cohort week
--   week_2           ... two weeks after
--   week_3           ... three weeks after
--   week_4           ... four weeks after
--   any_later_week   customers with a purchase in any week after the cohort week
--   any_later_pct    100 * any_later_week / customers
SELECT
    cohort_week,
    count() AS customers,
    countIf(has(weeks, first_week + 1)) AS week_1,
    countIf(has(weeks, first_week + 2)) AS week_2,
    countIf(has(weeks, first_week + 3)) AS week_3,
    countIf(has(weeks, first_week + 4)) AS week_4,
    countIf(length(weeks) > 1) AS any_later_week,
    round(100 * any_later_week / customers, 1) AS any_later_pct
FROM
(
    -- One row per customer who purchased. toRelativeWeekNum numbers the weeks (Monday to
    -- Sunday, as toMonday), so first_week + 1 is the week after the cohort week, and a
    -- customer with more than one distinct purchase week purchased in a later week.
    SELECT
        customer_id,
        toMonday(min(event_time)) AS cohort_week,
        min(toRelativeWeekNum(event_time)) AS first_week,
        groupUniqArray(toRelativeWeekNum(event_time)) AS weeks
    FROM omnistitch.journeys
    WHERE type = 'purchase'
    GROUP BY customer_id
)
GROUP BY cohort_week
ORDER BY cohort_week
