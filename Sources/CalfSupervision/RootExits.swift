import Synchronization
import CalfControl
import CalfRuntime
import CalfDurable

/// Exits of root supervisors, queued for `Node.rootExit()`.
package struct RootExits: Sendable {
    package var queued: [(id: String, reason: ExitReason)] = []
    package var waiters: [CheckedContinuation<(id: String, reason: ExitReason), Never>] = []
    /// Set while the node stops its roots itself: their exits are not news.
    package var shuttingDown = false
}

/// What supervision keeps for a node: its root supervisors, their exits,
/// the child reapers at work. Attached on first use; told first when the
/// node stops (it was attached after the durable layer), it stops the root
/// supervisors in reverse start order.
///
/// Thread-safe: every field is a `Mutex` or thread-safe itself.
package final class SupervisionLayer: NodeLayer {
    /// Root supervisors in start order (stopped in reverse at shutdown).
    package let roots = Mutex<[SupervisorRef]>([])
    /// Root exits not yet taken by `rootExit()`, and who waits for one.
    package let rootExits = Mutex<RootExits>(RootExits())
    /// Child reapers at work (supervisors that ended without stopping their children).
    package let reaping = ReaperCount()

    package func nodeWillStopProcesses() async { await stopRoots() }

    /// A root supervisor exited (any thread).
    package func rootExited(_ id: String, ref: SupervisorRef, reason: ExitReason) {
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
    package func nextRootExit() async -> (id: String, reason: ExitReason) {
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
    package func stopRoots() async {
        rootExits.withLock { $0.shuttingDown = true }
        let started = roots.withLock { $0 }
        for root in started.reversed() {
            try? await root.stop()
        }
    }
}

extension NodeCore {
    /// Supervision's part of the node (attached on first use).
    package var supervision: SupervisionLayer { layer(SupervisionLayer.self) { SupervisionLayer() } }
}
