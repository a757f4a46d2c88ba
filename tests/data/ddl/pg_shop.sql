-- A shop in PostgreSQL (tests/unit/test_sql.c reads it): schemas, quoted
-- names, composite keys, a self reference, keys added by ALTER TABLE,
-- descriptions from COMMENT ON, and statements that define no table.
CREATE SCHEMA sales;
SET search_path = public;

CREATE TABLE customers (
    id          serial PRIMARY KEY,
    email       varchar(255) NOT NULL UNIQUE,
    full_name   text,
    referred_by integer REFERENCES customers (id),
    created_at  timestamp with time zone DEFAULT now()
);

CREATE TABLE products (
    product_id  bigint GENERATED ALWAYS AS IDENTITY,
    "SKU"       character varying(32) NOT NULL,
    price       numeric(10, 2) NOT NULL CHECK (price >= 0),
    tags        text[],
    PRIMARY KEY (product_id)
);

CREATE TABLE sales.orders (
    id          integer NOT NULL,
    customer_id integer NOT NULL,
    placed_at   timestamp NOT NULL,
    status      text DEFAULT 'open'
);
ALTER TABLE ONLY sales.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE sales.orders ADD FOREIGN KEY (customer_id) REFERENCES public.customers;

CREATE TABLE sales.order_lines (
    order_id    integer REFERENCES sales.orders ON DELETE CASCADE,
    line_no     smallint,
    product_id  bigint NOT NULL,
    quantity    integer NOT NULL DEFAULT 1,
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT order_lines_product_fk FOREIGN KEY (product_id) REFERENCES products (product_id)
);

CREATE TABLE sales.shipments (
    shipment_id serial PRIMARY KEY,
    order_id    integer NOT NULL,
    line_no     smallint NOT NULL,
    "Carrier"   text
);
ALTER TABLE sales.shipments
    ADD CONSTRAINT shipments_line_fk FOREIGN KEY (order_id, line_no)
        REFERENCES sales.order_lines (order_id, line_no);

CREATE TABLE "Employees" (
    "EmployeeID" integer PRIMARY KEY,
    "ManagerID"  integer,
    "Name"       text NOT NULL,
    FOREIGN KEY ("ManagerID") REFERENCES "Employees" ("EmployeeID")
);

CREATE TABLE Reviews (
    ID          bigserial PRIMARY KEY,
    Product_ID  bigint,
    customer_id integer,
    rating      smallint,
    body        text
);

CREATE INDEX orders_customer_idx ON sales.orders (customer_id);
CREATE VIEW big_orders AS SELECT * FROM sales.orders;
INSERT INTO customers (email) VALUES ('a@example.com');

COMMENT ON TABLE customers IS 'One row per customer account.';
COMMENT ON COLUMN customers.referred_by IS 'The customer who referred this one.';
COMMENT ON TABLE sales.orders IS 'One row per customer order.';
COMMENT ON COLUMN sales.orders.status IS 'open, paid, shipped or cancelled';
COMMENT ON COLUMN products."SKU" IS 'Stock keeping unit';
