// node-postgres against kapot's PostgreSQL endpoint (e2e/pgwire_test.go):
// a query, a parameterized query, CREATE TABLE AS, INSERT and a
// 1.5-million-row result.
const { Client } = require('pg');

async function main() {
  const c = new Client({ host: process.argv[2], port: Number(process.argv[3]), user: 'kapot', database: 'kapot' });
  await c.connect();
  const r = await c.query('SELECT n_name FROM nation WHERE n_nationkey = $1', [7]);
  console.log(r.rows[0].n_name);
  await c.query('CREATE TABLE node_nations AS SELECT n_nationkey, n_name FROM nation');
  const ins = await c.query('INSERT INTO node_nations SELECT n_nationkey + 100, n_name FROM nation');
  console.log(ins.rowCount);
  const n = await c.query('SELECT count(*) AS n FROM node_nations');
  console.log(String(n.rows[0].n));
  const want = await c.query('SELECT count(*) * 25 AS n FROM lineitem');
  const all = await c.query({ text: 'SELECT l_orderkey, l_extendedprice, l_shipdate, n_name FROM lineitem CROSS JOIN nation', rowMode: 'array' });
  console.log(String(all.rows.length === Number(want.rows[0].n) && all.rows.length >= 1000000));
  await c.end();
}

main().catch((e) => { console.error(e); process.exit(1); });
