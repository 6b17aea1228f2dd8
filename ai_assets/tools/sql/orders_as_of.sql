-- Each order of the looked-up customers in its latest state on or before the looked-up day.
SELECT
    l.customer_id,
    l.created_date AS as_of,
    o.order_id,
    o.status,
    strftime(o.ordered_at, '%Y-%m-%d') AS ordered_at,
    o.expected_delivery::VARCHAR AS expected_delivery,
    strftime(o.delivered_at, '%Y-%m-%d') AS delivered_at,
    o.carrier,
    o.tracking_number
FROM order_lookups AS l
JOIN orders AS o ON o.customer_id = l.customer_id AND o.created_date <= l.created_date
QUALIFY row_number() OVER (PARTITION BY l.customer_id, l.created_date, o.order_id ORDER BY o.created_date DESC) = 1
ORDER BY l.customer_id, l.created_date, o.order_id
