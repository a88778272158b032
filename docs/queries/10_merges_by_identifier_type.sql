-- Question: which identifier types stitch customers together, and how often?
--
-- Definition: merges holds one row per merge of two customers: the absorbed id, the survivor,
-- and `via`, the identifier (type:value) whose link joined them. The type is the part of `via`
-- before the first ':'. A merge undone later (a shared store tablet found out) stays here as
-- history; the customer ids in it may no longer exist.
--
-- How to read the result: one row per identifier type that caused at least one merge, most
-- merges first. A type that merges much more than expected (a cookie on a shared computer, a
-- shop's phone number) may need a lower limit or a blocklist entry in configs/identity.yaml.
--
-- Columns:
--   id_type              type of the linking identifier
--   merges               merges it caused
--   pct_of_merges        100 * merges / all merges
--   first_merge          event time of the earliest such merge
--   last_merge           event time of the latest such merge
SELECT
    splitByChar(':', via)[1] AS id_type,
    count() AS merges,
    round(100 * merges / (SELECT count() FROM omnistitch.merges), 1) AS pct_of_merges,
    min(merged_at) AS first_merge,
    max(merged_at) AS last_merge
FROM omnistitch.merges
GROUP BY id_type
ORDER BY merges DESC, id_type
