import Synchronization
import CalfControl

/// The effects a transient process has under way: their tasks, cancelled
/// when the process exits (however it ends), each forgotten as it ends.
///
/// Thread-safe (a `Mutex`): effects end on Swift's concurrency pool, the
/// process exits on whichever scheduler it runs on by then.
package final class TransientEffects: Sendable {
    private struct Tasks {
        var running: [UInt64: Task<Void, Never>] = [:]
        var next: UInt64 = 1
        var closed = false
    }
    private let tasks = Mutex(Tasks())

    package init() {}

    /// Starts `work` as effect number n (returned), unless the process has exited (nil).
    package func start(_ work: @escaping @Sendable (_ id: UInt64) async -> Void) -> UInt64? {
        tasks.withLock { tasks -> UInt64? in
            guard !tasks.closed else { return nil }
            let id = tasks.next
            tasks.next &+= 1
            tasks.running[id] = Task { [self] in
                await work(id)
                ended(id)
            }
            return id
        }
    }

    /// Whether effect `id` is still under way (not ended, not cancelled).
    package func isRunning(_ id: UInt64) -> Bool { tasks.withLock { $0.running[id] != nil } }

    /// Forgets effect `id`; returns whether it was still under way.
    @discardableResult
    package func ended(_ id: UInt64) -> Bool { tasks.withLock { $0.running.removeValue(forKey: id) != nil } }

    /// Cancels effect `id`: its result, if it comes, is dropped.
    package func cancel(_ id: UInt64) {
        tasks.withLock { $0.running.removeValue(forKey: id) }?.cancel()
    }

    /// How many are under way.
    package var count: Int { tasks.withLock { $0.running.count } }

    /// Cancels every effect and takes no more (the process exited).
    package func close() {
        let running = tasks.withLock { tasks -> [Task<Void, Never>] in
            tasks.closed = true
            defer { tasks.running.removeAll() }
            return Array(tasks.running.values)
        }
        for task in running { task.cancel() }
    }
}
