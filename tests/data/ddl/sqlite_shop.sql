-- A shop in SQLite, the way `.dump` writes one (tests/unit/test_sql.c reads
-- it): pragmas, a transaction and rows beside the schema, a forward
-- reference, composite keys, a self reference and quoted names.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
-- Customer accounts.
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,   -- rowid alias
    email TEXT NOT NULL UNIQUE,
    referred_by INTEGER REFERENCES customers(id) -- who referred them
);
CREATE TABLE "Order Items" (
    order_id INTEGER NOT NULL REFERENCES orders,
    line_no INTEGER NOT NULL,
    product_code TEXT,
    qty INTEGER DEFAULT 1,
    PRIMARY KEY (order_id, line_no)
);
CREATE TABLE orders ( -- One row per order.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL,
    placed_at TEXT,
    FOREIGN KEY (customer_id) REFERENCES customers (id)
);
CREATE TABLE `returns` (
    `return_id` INTEGER PRIMARY KEY,
    order_id INTEGER,
    line_no INTEGER,
    [Reason] TEXT,
    FOREIGN KEY (order_id, line_no) REFERENCES "Order Items" (order_id, line_no)
);
CREATE TABLE tags (tag TEXT, customer_id INTEGER);
INSERT INTO customers VALUES (1, 'a@example.com', NULL);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE VIEW recent AS SELECT * FROM orders;
ALTER TABLE orders ADD COLUMN note TEXT;
COMMIT;
