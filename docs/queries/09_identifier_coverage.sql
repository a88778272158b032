-- Question: by which identifier types do we know our customers? How many customers can we
-- reach by e-mail or phone, and how many values of each type does a customer have?
--
-- Definition: identities holds every live (normalised) identifier and the customer it belongs
-- to now; shared identifiers (a store's tablet) and forgotten customers' identifiers are not
-- in it. A customer "has" a type when at least one identifier of that type belongs to it.
--
-- How to read the result: one row per identifier type, most widespread first.
-- pct_of_customers is the reach of the type (email: share of customers an e-mail can go to).
-- max_per_customer near the type's merge limit (email 3, phone 3, cookie 50...) is worth a
-- look together with identity_conflicts.
--
-- Columns:
--   id_type              identifier type (email, phone, cookie, loyalty, ...)
--   identifiers          identifiers of that type
--   customers            customers with at least one of them
--   pct_of_customers     100 * customers / all customers (profiles)
--   avg_per_customer     identifiers / customers
--   max_per_customer     most identifiers of that type held by one customer
SELECT
    id_type,
    sum(held) AS identifiers,
    count() AS customers,
    round(100 * customers / (SELECT count() FROM omnistitch.profiles), 1) AS pct_of_customers,
    round(identifiers / customers, 2) AS avg_per_customer,
    max(held) AS max_per_customer
FROM
(
    SELECT id_type, customer_id, count() AS held
    FROM omnistitch.identities
    GROUP BY id_type, customer_id
)
GROUP BY id_type
ORDER BY customers DESC, id_type
