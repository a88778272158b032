-- Question: when a customer's next event happens, which channel is it on, given the channel of
-- the event before? (The channel transition matrix.)
--
-- Definition: every journey event except a customer's first is one transition, from its
-- prev_channel (the channel of the event before it in journey order) to its channel.
-- Same-channel transitions (web -> web) ARE included; add
-- `AND prev_channel != channel` to the WHERE clause to keep only channel switches.
--
-- How to read the result: one row per (from, to) pair that occurred, grouped by from_channel.
-- pct_of_from adds up to 100 over the rows of one from_channel: read it as "after a web event,
-- 12% of next events were in the store". Pairs that never occurred have no row.
--
-- Columns:
--   from_channel   channel of the earlier event
--   to_channel     channel of the event right after it in the same journey
--   transitions    number of such consecutive pairs of events
--   pct_of_from    100 * transitions / all transitions out of from_channel
SELECT
    from_channel,
    to_channel,
    transitions,
    round(100 * transitions / from_total, 1) AS pct_of_from
FROM
(
    -- One row per from_channel, its targets and their counts in parallel arrays, so that
    -- the total per from_channel needs no join.
    SELECT
        from_channel,
        groupArray(to_channel) AS targets,
        groupArray(pairs) AS counts,
        sum(pairs) AS from_total
    FROM
    (
        SELECT prev_channel AS from_channel, channel AS to_channel, count() AS pairs
        FROM omnistitch.journeys
        WHERE prev_channel != ''
        GROUP BY from_channel, to_channel
    )
    GROUP BY from_channel
)
ARRAY JOIN targets AS to_channel, counts AS transitions
ORDER BY from_channel, transitions DESC, to_channel
