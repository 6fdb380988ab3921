import CalfControl
import CalfRuntime

/// Who hears of a durable process's restarts in place, and how it restarts:
/// its supervisor, which counts them against its intensity and applies its
/// strategy to the siblings.
package struct DurableGuardian: Sendable {
    /// The guardian's pid (only it may clear the entry).
    package let owner: Pid
    /// From the initial state (`RestartMode.fresh`) instead of snapshot and replay.
    package let fresh: Bool
    /// The delays between restarts of a crash loop (the child spec's).
    package var backoff: Backoff? = nil
    /// Told of each restart in place, on the process's thread.
    package let restarted: @Sendable (Pid, ExitReason) -> Void

    package init(owner: Pid, fresh: Bool, backoff: Backoff? = nil, restarted: @escaping @Sendable (Pid, ExitReason) -> Void) {
        self.owner = owner
        self.fresh = fresh
        self.backoff = backoff
        self.restarted = restarted
    }
}

extension DurableCore {
    /// Makes `guardian` the one told of `pid`'s restarts (replacing any other).
    package func setGuardian(_ guardian: DurableGuardian, of pid: Pid) {
        table.withLock { $0.guardians[pid] = guardian }
    }

    /// Drops `owner`'s guardianship of `pid` (a newer guardian stays).
    package func clearGuardian(of pid: Pid, owner: Pid) {
        table.withLock { table in
            if table.guardians[pid]?.owner == owner { table.guardians[pid] = nil }
        }
    }

    /// The guardian of `pid`, if any.
    package func guardian(of pid: Pid) -> DurableGuardian? {
        table.withLock { $0.guardians[pid] }
    }
}
