/// Who hears of a durable process's restarts in place, and how it restarts:
/// its supervisor, which counts them against its intensity and applies its
/// strategy to the siblings.
struct DurableGuardian: Sendable {
    /// The guardian's pid (only it may clear the entry).
    let owner: Pid
    /// From the initial state (`RestartMode.fresh`) instead of snapshot and replay.
    let fresh: Bool
    /// The delays between restarts of a crash loop (the child spec's).
    var backoff: Backoff? = nil
    /// Told of each restart in place, on the process's thread.
    let restarted: @Sendable (Pid, ExitReason) -> Void
}

extension DurableCore {
    /// Makes `guardian` the one told of `pid`'s restarts (replacing any other).
    func setGuardian(_ guardian: DurableGuardian, of pid: Pid) {
        table.withLock { $0.guardians[pid] = guardian }
    }

    /// Drops `owner`'s guardianship of `pid` (a newer guardian stays).
    func clearGuardian(of pid: Pid, owner: Pid) {
        table.withLock { table in
            if table.guardians[pid]?.owner == owner { table.guardians[pid] = nil }
        }
    }

    /// The guardian of `pid`, if any.
    func guardian(of pid: Pid) -> DurableGuardian? {
        table.withLock { $0.guardians[pid] }
    }
}
