/**
 * Where a cluster runner keeps the `Actor.persistedRef` snapshots of its
 * instances: one row per actor type and key in PostgreSQL, written after
 * each message that changed it and read when the key's entity is activated
 * on a runner, so that the state follows the key from machine to machine.
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"

export interface SnapshotStore {
  /** The encoded snapshot of `key`, `undefined` if it has none. */
  readonly load: (actor: string, key: string) => Effect.Effect<unknown, SqlError.SqlError>
  readonly save: (actor: string, key: string, snapshot: unknown) => Effect.Effect<void, SqlError.SqlError>
}

export const make = (table: string): Effect.Effect<SnapshotStore, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const name = sql(table)
    // Runners start together: the advisory lock keeps their CREATE TABLEs from racing on the catalog.
    yield* sql.withTransaction(
      Effect.andThen(
        sql`SELECT pg_advisory_xact_lock(hashtext(${table}))`,
        sql`CREATE TABLE IF NOT EXISTS ${name} (
          actor TEXT NOT NULL,
          key TEXT NOT NULL,
          snapshot TEXT NOT NULL,
          updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
          PRIMARY KEY (actor, key)
        )`
      )
    )
    return {
      load: (actor, key) =>
        Effect.map(
          sql<{ readonly snapshot: string }>`SELECT snapshot FROM ${name} WHERE actor = ${actor} AND key = ${key}`,
          (rows) => (rows[0] === undefined ? undefined : JSON.parse(rows[0].snapshot))
        ),
      save: (actor, key, snapshot) =>
        Effect.asVoid(
          sql`INSERT INTO ${name} (actor, key, snapshot) VALUES (${actor}, ${key}, ${JSON.stringify(snapshot)})
              ON CONFLICT (actor, key) DO UPDATE SET snapshot = EXCLUDED.snapshot, updated_at = now()`
        )
    } satisfies SnapshotStore
  })
