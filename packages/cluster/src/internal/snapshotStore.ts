/**
 * Where a cluster runner keeps the `Actor.persistedRef` snapshots of its
 * instances: one row per actor type and key in PostgreSQL, written after
 * each message that changed it and read when the key's entity is activated
 * on a runner, so that the state follows the key from machine to machine.
 *
 * The row also makes a persisted message's effect on the state exactly-once
 * and fences writers:
 *
 * - `applied`: the request ids (the `effect/cluster` Snowflake of the
 *   envelope, stable across redeliveries) of the last persisted messages
 *   whose effect is in `snapshot`, each with its encoded reply. It is written
 *   by the same `UPDATE` as the snapshot, so a message is in the state if and
 *   only if its id is in the list.
 * - `epoch`: a fencing token, incremented by every activation of the key.
 *   A write carries the epoch its activation read and succeeds only if the
 *   row still has it: once another runner (or another activation) has loaded
 *   the key, the older activation can no longer overwrite its state.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"

/** A persisted message whose effect is in the snapshot, and its reply (encoded). */
export interface Applied {
  readonly id: string
  readonly reply: EncodedReply
}

/** A reply as stored: the success or the typed error, each encoded with its message's JSON codec. */
export type EncodedReply =
  | { readonly _tag: "Success"; readonly value: unknown }
  | { readonly _tag: "Failure"; readonly error: unknown }

/** What an activation reads: the snapshot, the epoch it owns, the messages already applied. */
export interface Activation {
  /** The encoded snapshot, `undefined` if the key has none. */
  readonly snapshot: unknown
  readonly epoch: number
  readonly applied: ReadonlyArray<Applied>
}

/** A write refused: the key was activated again since this writer's activation. */
export class StaleEpoch extends Data.TaggedError("StaleEpoch")<{
  readonly actor: string
  readonly key: string
  readonly epoch: number
}> {}

export interface SnapshotStore {
  /** Activates `key`: takes the next epoch and reads the snapshot and the applied messages. */
  readonly activate: (actor: string, key: string) => Effect.Effect<Activation, SqlError.SqlError>
  /** Writes the snapshot and the applied messages, if `epoch` is still the key's; `StaleEpoch` if not. */
  readonly save: (
    actor: string,
    key: string,
    epoch: number,
    snapshot: unknown,
    applied: ReadonlyArray<Applied>
  ) => Effect.Effect<void, SqlError.SqlError | StaleEpoch>
}

interface Row {
  readonly snapshot: string | null
  readonly epoch: number | string | bigint
  readonly applied: string
}

export const make = (table: string): Effect.Effect<SnapshotStore, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const name = sql(table)
    // Runners start together: the advisory lock keeps their CREATE TABLEs from racing on the catalog.
    yield* sql.withTransaction(
      Effect.all(
        [
          sql`SELECT pg_advisory_xact_lock(hashtext(${table}))`,
          sql`CREATE TABLE IF NOT EXISTS ${name} (
            actor TEXT NOT NULL,
            key TEXT NOT NULL,
            snapshot TEXT,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (actor, key)
          )`,
          // Also brings a table of the first version (snapshots only) up to date.
          sql`ALTER TABLE ${name}
            ADD COLUMN IF NOT EXISTS epoch BIGINT NOT NULL DEFAULT 1,
            ADD COLUMN IF NOT EXISTS applied TEXT NOT NULL DEFAULT '[]',
            ALTER COLUMN snapshot DROP NOT NULL`
        ],
        { discard: true }
      )
    )
    return {
      activate: (actor, key) =>
        Effect.map(
          sql<Row>`INSERT INTO ${name} (actor, key) VALUES (${actor}, ${key})
              ON CONFLICT (actor, key) DO UPDATE SET epoch = ${name}.epoch + 1, updated_at = now()
              RETURNING snapshot, epoch, applied`,
          (rows) => ({
            snapshot: rows[0]!.snapshot === null ? undefined : JSON.parse(rows[0]!.snapshot),
            epoch: Number(rows[0]!.epoch),
            applied: JSON.parse(rows[0]!.applied)
          })
        ),
      save: (actor, key, epoch, snapshot, applied) =>
        Effect.flatMap(
          sql`UPDATE ${name} SET snapshot = ${JSON.stringify(snapshot)}, applied = ${JSON.stringify(applied)},
              updated_at = now()
              WHERE actor = ${actor} AND key = ${key} AND epoch = ${epoch} RETURNING epoch`,
          (rows) => (rows.length === 1 ? Effect.void : Effect.fail(new StaleEpoch({ actor, key, epoch })))
        )
    } satisfies SnapshotStore
  })
