// A loopback Postgres server with pgvector, for moegate's tests and
// benchmarks: PGlite (Postgres compiled to WebAssembly) served over the
// Postgres wire protocol.
//
//   node server.mjs [DATADIR]     (in memory when DATADIR is absent)
//
// PGLITE_PORT sets the port (default 55432); it listens on 127.0.0.1 only.
// All connections share one backend: clients must not rely on per-session
// state (search_path, prepared statements), so pgx connects with
// default_query_exec_mode=exec and qualifies table names with a schema.
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const port = Number(process.env.PGLITE_PORT || 55432)
const dataDir = process.argv[2]

const db = await PGlite.create(dataDir ? { dataDir, extensions: { vector } } : { extensions: { vector } })
await db.exec('CREATE EXTENSION IF NOT EXISTS vector')

const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 16 })
await server.start()
console.log(`pglite: listening on 127.0.0.1:${port} (${dataDir ? 'data dir ' + dataDir : 'in memory'}, pgvector loaded)`)

async function shutdown() {
  await server.stop()
  await db.close()
  process.exit(0)
}
process.on('SIGINT', shutdown)
process.on('SIGTERM', shutdown)
