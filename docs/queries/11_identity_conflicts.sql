-- Question: which identifier links does merge protection refuse, and why?
--
-- Definition: identity_conflicts holds one row per refused link: an event carried an
-- identifier that would have pushed a customer over a per-type limit of configs/identity.yaml,
-- so the identifier was not attached to the customer (customer_id) the event joined. The
-- reason says which limit: limit:<type> when the new identifier itself was one too many of its
-- type, merge_limit:<type> when it belonged to another customer and merging the two would have
-- given more than the limit of <type> (which can differ from id_type).
--
-- How to read the result: one row per refused identifier type and reason, most conflicts
-- first. Many conflicts on one value (distinct_values much lower than conflicts) point to a
-- shared or junk identifier; many customers with one each point to a limit set too low.
--
-- Columns:
--   id_type           type of the identifier that was not attached
--   reason            limit:<type> or merge_limit:<type>, the limit that would have been exceeded
--   conflicts         refused links
--   distinct_values   distinct identifier values among them
--   customers         distinct customers the events joined
--   last_at           event time of the latest conflict
SELECT
    id_type,
    reason,
    count() AS conflicts,
    uniqExact(id_value) AS distinct_values,
    uniqExact(customer_id) AS customers,
    max(at) AS last_at
FROM omnistitch.identity_conflicts
GROUP BY id_type, reason
ORDER BY conflicts DESC, id_type, reason
