import Metrics
import CalfLoop
import CalfStore
import Glibc
import CalfControl
import CalfRuntime

extension DurableCore {
    /// Opens (creating if needed) the data directory and its journal, and
    /// starts the writer thread.
    package static func open(_ options: DurableOptions, schedulerCount: Int, metrics: any MetricsFactory, clock: ManualClock? = nil) throws -> DurableCore {
        if mkdir(options.path, 0o700) != 0, errno != EEXIST {
            throw DurableError.dataDirectory("cannot create the data directory \(options.path): \(String(cString: strerror(errno)))")
        }
        // Inspecting a copy takes no lock: the copy is its own.
        let lock = options.inspecting ? nil : try DataDirectoryLock(directory: options.path)
        do {
            let environment = try StoreEnvironment(path: options.path, mapSize: options.mapSize, durability: options.durability)
            let journal = try Journal(environment: environment)
            let writer = CommitWriter(journal: journal, options: options, schedulerCount: schedulerCount, metrics: DurableMetrics.Writer(metrics), clock: clock)
            let loop = try EventLoop(name: "calf-journal", driver: writer, spin: .zero)
            return DurableCore(options: options, journal: journal, writer: writer, writerLoop: loop, lock: lock, metrics: metrics)
        } catch {
            lock?.release()
            throw error
        }
    }

    /// Starts the periodic checkpoint rounds (on the writer's loop).
    package func startCheckpoints() {
        let interval = max(1, options.checkpointInterval.nanoseconds / 1_000_000)
        writerLoop.execute { [self] in
            do {
                let timer = try LoopTimer(loop: writerLoop)
                try timer.start(milliseconds: interval, repeatMilliseconds: interval) { [unowned self] in checkpointRound() }
                checkpointTimer = timer
            } catch {
                reportProblem("checkpoints will not run: \(error)")
            }
        }
    }

    /// Runs a checkpoint round and waits until it has committed.
    package func checkpoint() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            checkpointRound { continuation.resume() }
        }
    }

    /// Waits until everything submitted so far has committed (or was refused).
    package func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let batch = CommitBatch()
            batch.entries.append(.outcome { _ in continuation.resume() })
            submit(batch)
        }
    }

    /// After the schedulers stopped: commits what is left, stops the writer, closes the store.
    package func close() async {
        await drain()
        let timer = checkpointTimer
        checkpointTimer = nil
        if let timer { writerLoop.execute { timer.close() } }
        _ = try? writerLoop.shutdown()
        closed.store(true, ordering: .sequentiallyConsistent)
        journal.environment.close()
        lock?.release()
    }
}
