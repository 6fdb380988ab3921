/// Exits of root supervisors, queued for `Node.rootExit()`.
struct RootExits: Sendable {
    var queued: [(id: String, reason: ExitReason)] = []
    var waiters: [CheckedContinuation<(id: String, reason: ExitReason), Never>] = []
    /// Set while the node stops its roots itself: their exits are not news.
    var shuttingDown = false
}

extension NodeCore {
    /// A root supervisor exited (any thread).
    func rootExited(_ id: String, ref: SupervisorRef, reason: ExitReason) {
        roots.withLock { $0.removeAll { $0 == ref } }
        let waiter: CheckedContinuation<(id: String, reason: ExitReason), Never>? = rootExits.withLock { exits in
            guard !exits.shuttingDown else { return nil }
            if exits.waiters.isEmpty {
                exits.queued.append((id, reason))
                return nil
            }
            return exits.waiters.removeFirst()
        }
        waiter?.resume(returning: (id, reason))
    }

    /// Waits for the next root exit.
    func nextRootExit() async -> (id: String, reason: ExitReason) {
        await withCheckedContinuation { continuation in
            let ready: (id: String, reason: ExitReason)? = rootExits.withLock { exits in
                if !exits.queued.isEmpty { return exits.queued.removeFirst() }
                exits.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Stops the root supervisors in reverse start order, each in order.
    func stopRoots() async {
        rootExits.withLock { $0.shuttingDown = true }
        let started = roots.withLock { $0 }
        for root in started.reversed() {
            try? await root.stop()
        }
    }
}
