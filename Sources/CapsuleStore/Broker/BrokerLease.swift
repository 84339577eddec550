import Foundation

/// The lease that makes one broker of a pair the active one: the zguide's Binary Star, with the
/// shared PostgreSQL store as the arbiter instead of a peer vote, so two brokers can never both be
/// active (docs/reliability.md, "A broker pair").
///
/// One row, `broker_lease`, names the holder, its router endpoint (for the standby's refusals), an
/// epoch that grows at every change of holder, and an expiry. Times are the database server's
/// clock, never a broker's, so the brokers' clocks need not agree. The holder renews well before
/// the expiry; a contender takes the row only once it has expired. The holder stops serving as
/// soon as its own clock says the lease may have lapsed (measured from when it *sent* the last
/// renewal that succeeded, so it always gives up before the server would let another take over),
/// and every write transaction of the active broker starts with ``fence(holder:epoch:)``, which
/// fails unless the row still names it, so even a broker paused past its lease cannot write.
package enum BrokerLease {
    package static let name = "broker"
    static let serverNow = "CAST(extract(epoch from clock_timestamp()) AS DOUBLE PRECISION)"

    /// Who holds the lease, as the server sees it.
    package struct Holder: Sendable, Hashable {
        package var holder: String
        package var endpoint: String
        package var epoch: Int64
        /// Seconds the lease still runs (server clock), negative once it lapsed.
        package var remainingSeconds: Double
    }

    /// Takes the lease if it is free or lapsed, or renews it if `holder` has it, for `seconds`.
    /// Returns whether `holder` holds it now, and the holder either way.
    package static func acquire(
        _ db: any SQLConnection,
        holder: String,
        endpoint: String,
        seconds: Double
    ) throws -> (held: Bool, current: Holder?) {
        let taken = try SQLRow.fetchAll(
            db,
            sql: """
                INSERT INTO broker_lease (name, holder, endpoint, epoch, expiresAt)
                VALUES (?, ?, ?, 1, \(serverNow) + ?)
                ON CONFLICT (name) DO UPDATE SET
                    epoch = CASE WHEN broker_lease.holder = excluded.holder THEN broker_lease.epoch ELSE broker_lease.epoch + 1 END,
                    holder = excluded.holder, endpoint = excluded.endpoint, expiresAt = excluded.expiresAt
                WHERE broker_lease.holder = excluded.holder OR broker_lease.expiresAt < \(serverNow)
                RETURNING holder, endpoint, epoch, expiresAt - \(serverNow) AS remaining
                """,
            arguments: [name, holder, endpoint, seconds]
        )
        if let row = taken.first { return (true, Self.holder(row)) }
        return (false, try current(db))
    }

    /// The current holder (lapsed or not), or nil before any broker took the lease.
    package static func current(_ db: any SQLConnection) throws -> Holder? {
        try SQLRow.fetchOne(
            db,
            sql:
                "SELECT holder, endpoint, epoch, expiresAt - \(serverNow) AS remaining FROM broker_lease WHERE name = ?",
            arguments: [name]
        ).map(Self.holder)
    }

    /// Gives the lease up at once (a graceful shutdown), so the standby need not wait for it to lapse.
    package static func release(_ db: any SQLConnection, holder: String) throws {
        try db.execute(
            sql: "UPDATE broker_lease SET expiresAt = 0 WHERE name = ? AND holder = ?",
            arguments: [name, holder]
        )
    }

    /// A statement that fails (division by zero) unless `holder` still holds the lease at `epoch`
    /// and it has not lapsed: the first statement of every write transaction of the active broker.
    package static func fence(holder: String, epoch: Int64) -> (sql: String, arguments: SQLArguments) {
        (
            """
            SELECT 1 / (SELECT COUNT(*) FROM broker_lease WHERE name = ? AND holder = ? AND epoch = ? AND expiresAt > \(serverNow))
            """, [name, holder, epoch]
        )
    }

    static func holder(_ row: SQLRow) -> Holder {
        Holder(
            holder: row["holder"],
            endpoint: row["endpoint"],
            epoch: row["epoch"],
            remainingSeconds: row["remaining"]
        )
    }
}
