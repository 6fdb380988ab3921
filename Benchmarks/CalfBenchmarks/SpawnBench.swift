import Calf

/// A process that waits forever.
struct Idle: Behavior {
    typealias State = Void
    func handle(_ message: Int, state: inout Void, context: inout Context<Int>) {}
}

/// Spawns `count` idle processes on its own scheduler when called.
struct Spawner: Behavior {
    typealias State = Void
    let count: Int

    func handle(_ message: Int, state: inout Void, context: inout Context<Int>) throws {
        for _ in 0..<count { try context.spawn(Idle()) }
        context.reply(now())
    }
}

/// The `spawn` benchmark of `calf bench`.
public enum SpawnBench {
    /// Runs the benchmark and prints its figures to `report`.
    public static func run(processes: Int, schedulers: Int, report: Report) async throws {
        let node = try Node(schedulers: schedulers)
        var spawners: [Address<Int>] = []
        let share = processes / schedulers
        for index in 0..<schedulers {
            spawners.append(try await node.spawn(Spawner(count: index == 0 ? processes - share * (schedulers - 1) : share), on: index))
        }
        let rssBefore = residentBytes()
        let start = now()
        let ends = try await withThrowingTaskGroup(of: Double.self) { group in
            for spawner in spawners {
                group.addTask { try await node.call(spawner, 0, timeout: .seconds(600)) }
            }
            return try await group.reduce(into: [Double]()) { $0.append($1) }
        }
        let end = ends.max() ?? now()
        let rssAfter = residentBytes()
        let alive = await node.processCount()
        report.figure("spawn", Double(processes) / (end - start), "procs/s", note: "\(alive) alive on \(schedulers) scheduler(s)")
        report.figure("spawn_memory", Double(rssAfter - rssBefore) / Double(processes), "bytes/process", note: "RSS delta / N")
        let shutdownStart = now()
        try await node.shutdown()
        report.figure("shutdown", now() - shutdownStart, "s", note: "stopping \(alive) processes")
    }
}
