import Calf
import CalfStore
import Foundation
import Synchronization

/// The message of the million benchmark's processes: one more to count.
enum Tick: Codable, JournalCodable, Sendable {
    case tick

    func write(to writer: inout ByteWriter) {}
    init(reading reader: inout ByteReader) throws { self = .tick }
}

/// Ticks handled by the million benchmark's processes outside replay.
let millionHandled = Atomic<Int>(0)

/// A mostly idle durable process (an account, a device, a sleeping flow):
/// it counts the ticks it is sent.
struct IdleCounter: DurableBehavior {
    /// Coded by `@JournalCoded`, as a user's hot state would be (a
    /// snapshot a plain `Codable` wrote before still reads).
    @JournalCoded
    struct State: Codable { var ticks = 0 }

    func initialState() -> State { State() }

    func handle(_ message: Tick, state: inout State, context: inout DurableContext<Tick>) {
        state.ticks += 1
        if !context.isReplaying { millionHandled.wrappingAdd(1, ordering: .relaxed) }
    }
}

/// `calf bench million`: a million mostly idle durable processes. The
/// first node spawns them, sends each a tick and lets them all passivate;
/// a second node, in an OS process of its own (so that its memory is its
/// own), starts on that directory, serves, and sends each one more tick.
/// Prints the first node's figures, then the second's: its start to
/// serving, its memory with every process out of RAM, and the second
/// round's rate (each tick brings its process back from its snapshot).
public enum MillionBench {
    /// How idle processes leave RAM in the first node.
    static let passivateAfter = Duration.seconds(1)

    static func options(_ path: String) -> DurableOptions {
        var options = DurableOptions(path: path, durability: .process, behaviors: [IdleCounter.self],
                                     checkpointInterval: .seconds(3600), mapSize: 16 << 30)
        options.passivateAfter = passivateAfter
        // Sends from outside come in chunks of `inFlight`: neither bound needs to refuse them.
        options.writerQueueLimit = .max
        options.checkpointAtShutdown = false
        return options
    }

    /// Ticks sent but not yet handled, at most.
    static let inFlight = 50_000

    /// Passivated processes the second node brings back one at a time (for the activation latency).
    static let activationSamples = 1000

    /// Runs both nodes: the first here, the second by running `executable`
    /// (`calf`) with `bench million --phase restart`; prints what both measured.
    /// With `keeping`, the data directory is that one, left in place
    /// (for another `--phase restart` on it).
    public static func run(processes: Int, executable: String, keeping: String? = nil, report: Report) async throws {
        let dir = try keeping ?? DurableBench.directory()
        defer { if keeping == nil { try? FileManager.default.removeItem(atPath: dir) } }
        try await firstNode(dir, processes: processes, report: report)
        fflush(nil) // what the first node printed comes before the second's lines
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = ["bench", "million", "--phase", "restart", "--data", dir, "--processes", "\(processes)"] + (report.json ? ["--json"] : [])
        try child.run()
        child.waitUntilExit()
        guard child.terminationStatus == 0 else { throw BenchFailure(description: "the second node ended with status \(child.terminationStatus)") }
    }

    /// Only the first node, in `dir` (made if need be, and kept).
    public static func prepare(_ dir: String, processes: Int, report: Report) async throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try await firstNode(dir, processes: processes, report: report)
    }

    /// Spawns, ticks and passivates `processes` durable processes; writes their pids to `dir/pids`.
    static func firstNode(_ dir: String, processes: Int, report: Report) async throws {
        let node = try Node(durable: options(dir))
        var began = now()
        var pids: [UInt64] = []
        pids.reserveCapacity(processes)
        try await withThrowingTaskGroup(of: UInt64.self) { group in
            var next = 0
            while next < processes {
                let upper = min(processes, next + 1024)
                for _ in next..<upper { group.addTask { try await node.spawnDurable(IdleCounter()).pid.serial } }
                for try await pid in group { pids.append(pid) }
                next = upper
            }
        }
        report.figure("million_spawn", Double(processes) / (now() - began), "processes/s", note: "\(processes) durable processes, journaled")

        began = now()
        try await tickEach(pids, node: node, handledBefore: 0)
        report.figure("million_first_round", Double(processes) / (now() - began), "msgs/s", note: "one tick to each live process, journaled, handled")

        began = now()
        while node.passivatedCount < processes { try await Task.sleep(for: .milliseconds(20)) }
        let memory = MemoryUse.now()
        report.figure("million_passivated_first_node", now() - began, "s", note: "all \(processes) out of RAM, counted from the last tick handled (passivateAfter \(passivateAfter))")
        report.figure("million_rss_first_node_passivated", Double(memory.resident) / 1_048_576, "MiB", note: "anonymous \(memory.anonymous / 1_048_576) MiB; the allocator keeps what the live processes used")
        // A checkpoint round, as a running node has every few seconds: the next start scans only the log after it.
        try await node.checkpoint()
        try await node.shutdown()
        let bytes = pids.withUnsafeBytes { Data($0) }
        try bytes.write(to: URL(fileURLWithPath: dir + "/pids"))
    }

    /// The second node (`--phase restart`): starts on `dir`, serves, then
    /// sends every process of `dir/pids` one more tick.
    public static func restartPhase(_ dir: String, processes: Int, report: Report) async throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/pids"))
        let pids = bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
        guard pids.count == processes else { throw BenchFailure(description: "\(dir)/pids lists \(pids.count) processes, not \(processes)") }
        // This OS process's memory before the node: what the processes take is measured from it.
        let before = MemoryUse.now()
        let began = now()
        var startOptions = options(dir)
        // The second round's processes stay in RAM: what is measured is their coming back.
        startOptions.passivateAfter = nil
        let node = try Node(durable: startOptions)
        // Serving: a tick to the last process is accepted.
        let last = Pid(serial: pids[pids.count - 1])
        let first = await node.send(Tick.tick, toDurable: last, key: nil)
        guard case .accepted = first else { throw BenchFailure(description: "the first tick to \(last) was refused: \(first)") }
        let started = now() - began
        let recovery = node.recoveryReport
        let memory = MemoryUse.now()
        report.figure("million_start", started, "s", note: "to serving: \(recovery?.passivated ?? 0) left out of RAM, \(recovery?.processes ?? 0) brought back, \(recovery?.scanned ?? 0) records scanned; reading \(String(format: "%.2f", recovery?.scanSeconds ?? 0)) s, entering \(String(format: "%.2f", recovery?.reviveSeconds ?? 0)) s")
        report.figure("million_passivated", Double(node.passivatedCount), "processes", note: "out of RAM after the start")
        report.figure("million_rss_start", Double(memory.resident) / 1_048_576, "MiB", note: "anonymous \(memory.anonymous / 1_048_576) MiB, the rest the journal's mapped pages")
        report.figure("million_bytes_per_passivated", Double(memory.anonymous - before.anonymous) / Double(processes), "bytes",
                      note: "anonymous memory the start added, per process out of RAM (the journal's mapped pages not counted)")
        while millionHandled.load(ordering: .relaxed) < 1 { try await Task.sleep(for: .milliseconds(1)) }

        // One at a time, spread over the pids: a tick's send to its handling, the process brought back for it.
        let sampled = Array(stride(from: 0, to: pids.count - 1, by: max(1, (pids.count - 1) / activationSamples)).prefix(activationSamples))
        var latencies: [Double] = []
        for index in sampled {
            let handled = millionHandled.load(ordering: .relaxed)
            let sent = now()
            guard node.send(Tick.tick, toDurable: Pid(serial: pids[index])) else { throw BenchFailure(description: "no process \(Pid(serial: pids[index])) took its tick") }
            while millionHandled.load(ordering: .relaxed) == handled { await Task.yield() }
            latencies.append(now() - sent)
        }
        latencies.sort()
        report.figure("million_activation_p50", latencies[latencies.count / 2] * 1e6, "µs", note: "\(latencies.count) ticks one at a time: journaled, the process brought back from its snapshot, handled")
        report.figure("million_activation_p99", latencies[min(latencies.count - 1, latencies.count * 99 / 100)] * 1e6, "µs")

        let sampledSet = Set(sampled)
        let rest = pids.indices.dropLast().filter { !sampledSet.contains($0) }.map { pids[$0] }
        let round = now()
        try await tickEach(rest, node: node, handledBefore: 1 + sampled.count)
        report.figure("million_second_round", Double(rest.count) / (now() - round), "msgs/s", note: "one tick to each of \(rest.count) passivated processes by pid: journaled, brought back from its snapshot, handled")
        let after = MemoryUse.now()
        report.figure("million_rss_second_round", Double(after.resident) / 1_048_576, "MiB", note: "all \(processes) back in RAM")
        report.figure("million_bytes_per_active", Double(after.anonymous - before.anonymous) / Double(processes), "bytes",
                      note: "anonymous memory per process with all back in RAM (the allocator keeps some it freed)")
        try await node.shutdown()
    }

    /// Sends each of `pids` a tick from outside, at most `inFlight` unhandled, and waits until all are handled.
    static func tickEach(_ pids: [UInt64], node: Node, handledBefore: Int) async throws {
        var sent = 0
        for serial in pids {
            // By pid: a passivated process's tick is journaled with no cell made for it.
            guard node.send(Tick.tick, toDurable: Pid(serial: serial)) else {
                throw BenchFailure(description: "no process \(Pid(serial: serial)) took its tick")
            }
            sent += 1
            if sent % 1024 == 0 {
                while sent - (millionHandled.load(ordering: .relaxed) - handledBefore) > inFlight { try await Task.sleep(for: .milliseconds(1)) }
            }
        }
        while millionHandled.load(ordering: .relaxed) - handledBefore < pids.count { try await Task.sleep(for: .milliseconds(1)) }
    }
}

/// A benchmark that could not run as planned, and why.
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
}
