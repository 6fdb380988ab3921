import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The executor of one flow's tasks: it keeps their jobs and runs them only
/// inside a turn of the flow's process, on the thread running that turn
/// (`drain`). A job enqueued at any other moment or from another thread
/// means the flow awaited something Calf does not journal (`Task.sleep`, an
/// actor with an executor of its own, a callback API, direct I/O): it is
/// held and never run, and the flow is parked (`foreignWakeUps`).
///
/// What it cannot see: an await that completes before its task has
/// suspended (a foreign API that resumes its continuation at once, or a
/// 1 ms `Task.sleep` on a loaded machine) goes on inline, like any call.
///
/// Jobs run in the order they were enqueued (FIFO): steps are matched by
/// their position in the code, never by which task's job ran first.
final class FlowExecutor: TaskExecutor, @unchecked Sendable {
    // `queue` is guarded by its mutex (enqueue may come from any thread);
    // `turnThread` is written by the thread opening and closing a turn and
    // read under the same mutex.
    private struct Queue {
        var jobs: [UnownedJob] = []
        var turnThread: pthread_t?
        var foreign: [UnownedJob] = []
    }

    private let queue = Mutex(Queue())

    /// Takes a job of one of the flow's tasks.
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let me = pthread_self()
        queue.withLock { queue in
            if let thread = queue.turnThread, pthread_equal(thread, me) != 0 {
                queue.jobs.append(job)
            } else {
                queue.foreign.append(job)
            }
        }
    }

    /// Opens a turn on the calling thread: jobs enqueued from it are run by `drain`.
    func openTurn() {
        let me = pthread_self()
        queue.withLock { $0.turnThread = me }
    }

    /// Closes the turn: every job enqueued from now on is foreign.
    func closeTurn() {
        queue.withLock { $0.turnThread = nil }
    }

    /// Whether the calling thread is running the flow's turn.
    var isOnTurn: Bool {
        let me = pthread_self()
        return queue.withLock { queue in queue.turnThread.map { pthread_equal($0, me) != 0 } ?? false }
    }

    /// Runs jobs until none is left (each may enqueue more); returns how many ran.
    @discardableResult
    func drain() -> Int {
        var ran = 0
        while true {
            // Takes what is queued at once; what these jobs enqueue runs after them (FIFO).
            let batch: [UnownedJob] = queue.withLock { queue in
                defer { queue.jobs.removeAll(keepingCapacity: true) }
                return queue.jobs
            }
            guard !batch.isEmpty else { return ran }
            for job in batch {
                ran += 1
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }
    }

    /// How many jobs arrived outside a turn or from another thread (held, never run).
    var foreignWakeUps: Int { queue.withLock { $0.foreign.count } }
}
