import CalfControl
import CalfRuntime

/// The idempotency keys of messages from outside: which were accepted, at
/// which seq, within the retention window; which of them the next
/// checkpoint round must write to the `keys` database (the log they are in
/// may be dropped after that round); which expired.
///
/// A value type with no I/O: the writer owns one on its thread and asks it
/// about each keyed message of a commit (`IdempotencyKeys.Commit`).
package struct IdempotencyKeys {
    /// Where a key's message is, and when it was accepted (ns since the epoch).
    package struct Entry: Equatable {
        package var seq: UInt64
        package var acceptedAt: UInt64
    }

    /// What a commit under way has taken so far: its keyed messages by key,
    /// with their index among the commit's records.
    package struct Commit {
        fileprivate(set) var fresh: [String: (index: Int, acceptedAt: UInt64)] = [:]
        /// No keyed message in it.
        package var isEmpty: Bool { fresh.isEmpty }
    }

    /// What to do with a keyed message.
    package enum Verdict: Equatable {
        /// Not seen within the window: take it (at this index of the commit).
        case fresh
        /// Accepted before, at `seq`: do not take it again.
        case duplicate(seq: UInt64)
        /// Taken earlier in the same commit, at this index.
        case duplicateInCommit(index: Int)
    }

    /// The longest key taken, in bytes of UTF-8 (as Stripe's 255): the
    /// `keys` database is LMDB's, whose keys are at most 511 bytes.
    package static let maximumLength = 255

    /// Whether `key` can be kept in the `keys` database.
    package static func fits(_ key: String) -> Bool { key.utf8.count <= maximumLength }

    /// How long a key is remembered, in nanoseconds.
    package let retention: UInt64
    /// The keys within the window.
    package private(set) var known: [String: Entry] = [:]
    /// Keys accepted (or restored) since the last finished round: the next round writes them.
    package private(set) var sinceRound: [String] = []

    package init(retention: UInt64) { self.retention = retention }

    /// Loads the keys recovery found; the next round writes them all.
    package mutating func restore(_ restored: [String: Entry]) {
        known = restored
        sinceRound = Array(restored.keys)
    }

    /// Decides, at `now`, on a message with `key` accepted at `acceptedAt`,
    /// as the `index`-th record of `commit`; a fresh one is added to the commit.
    package func check(_ key: String, acceptedAt: UInt64, now: UInt64, index: Int, in commit: inout Commit) -> Verdict {
        if let seen = known[key], now &- seen.acceptedAt < retention { return .duplicate(seq: seen.seq) }
        if let earlier = commit.fresh[key] { return .duplicateInCommit(index: earlier.index) }
        commit.fresh[key] = (index, acceptedAt)
        return .fresh
    }

    /// The keys a round finishing in `commit` writes, with their entries
    /// (`first`: the commit's first seq); expired ones are left out.
    package func toPersist(after commit: Commit, first: UInt64) -> [(key: String, entry: Entry)] {
        (sinceRound + commit.fresh.keys).compactMap { key in
            if let fresh = commit.fresh[key] { return (key, Entry(seq: first &+ UInt64(fresh.index), acceptedAt: fresh.acceptedAt)) }
            return known[key].map { (key, $0) }
        }
    }

    /// `commit` is in the journal from seq `first`; if a round finished in
    /// it, its keys were written with it.
    package mutating func committed(_ commit: Commit, first: UInt64, roundFinished: Bool) {
        for (key, fresh) in commit.fresh {
            known[key] = Entry(seq: first &+ UInt64(fresh.index), acceptedAt: fresh.acceptedAt)
        }
        if roundFinished {
            sinceRound.removeAll()
        } else {
            sinceRound.append(contentsOf: commit.fresh.keys)
        }
    }

    /// Forgets the keys accepted `retention` or longer before `now`; returns them.
    package mutating func expire(now: UInt64) -> [String] {
        let expired = known.compactMap { key, entry in now &- entry.acceptedAt >= retention ? key : nil }
        for key in expired { known[key] = nil }
        return expired
    }
}
