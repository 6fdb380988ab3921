import ArgumentParser
import CalfBenchmarks
import Calf
import CalfStore
import Foundation

/// `calf bench NAME`: runs one benchmark and prints its figures.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark and print its figures (release build recommended)."
    )

    enum Name: String, ExpressibleByArgument, CaseIterable {
        case spawn, pingpong, ring, fanin, codec, journal, durable, replay, recover, restart, shell, idle, savina, effects, http, flows, million, watch, graph
    }

    @Argument(help: "One of: \(Name.allCases.map(\.rawValue).joined(separator: ", ")).")
    var name: Name

    @Flag(help: "One JSON object per figure and line: name, value, unit.")
    var json = false

    @Option(help: "Processes to spawn (spawn, million).")
    var processes = 1_000_000

    @Option(help: "Messages to pass (pingpong).")
    var messages = 2_000_000

    @Option(help: "Processes in the ring (ring).")
    var ringSize = 10_000

    @Option(help: "Laps of the token around the ring (ring).")
    var laps = 1_000

    @Option(help: "Senders (fanin).")
    var senders = 1_000

    @Option(help: "Messages per sender (fanin).")
    var perSender = 1_000

    @Option(help: "Crash-and-restart rounds of the transient child (restart).")
    var restarts = 100_000

    @Option(help: "Crash-and-restart rounds of the durable child, each replaying 100 messages (restart).")
    var durableRestarts = 2_000

    @Option(help: "Durability level to measure (durable; default: both).")
    var durability: StoreEnvironment.Durability?

    @Option(help: "Runs of each benchmark, of which the median is shown (savina, http).")
    var rounds = 3

    @Flag(help: "Also run beside one CPU-bound process, yes > /dev/null (savina).")
    var hog = false

    @Option(help: "Only these benchmarks, comma-separated (savina; default: all).")
    var only: String?

    @Option(help: "Seconds of each load run (http).")
    var seconds = 5

    @Option(help: "GETs through the request connector and through plain AsyncHTTPClient (http).")
    var calls = 20_000

    @Option(help: "Which node of the million benchmark to run: the first, which also starts the second (first, the default), only the first (prepare), or the second (restart).")
    var phase: MillionPhase = .first

    @Option(help: "The million benchmark's data directory: the first node's, kept afterwards; the one the second node starts on (with --phase restart).")
    var data: String?

    @Option(help: "Directories in the watched tree (watch).")
    var directories = 10_000

    @Option(help: "Schedulers (default: one per core).")
    var schedulers = Node.coreCount

    func run() async throws {
        let report = Report(json: json)
        switch name {
        case .spawn: try await SpawnBench.run(processes: processes, schedulers: schedulers, report: report)
        case .pingpong: try await PingPongBench.run(messages: messages, report: report)
        case .ring: try await RingBench.run(size: ringSize, laps: laps, report: report)
        case .fanin: try await FanInBench.run(senders: senders, perSender: perSender, schedulers: schedulers, report: report)
        case .codec: try CodecBench.run(count: messages / 4, report: report)
        case .journal: try JournalBench.run(records: messages / 2, batch: 1_000, report: report)
        case .durable: try await DurableBench.run(workers: 10_000, messages: messages / 4, levels: durability.map { [$0] } ?? [.fsync, .process], report: report)
        case .replay: try await DurableBench.replay(workers: 1_000, messages: messages / 2, report: report)
        case .recover: try await DurableBench.recover(workers: 100_000, tail: 2, report: report)
        case .restart:
            try await RestartBench.run(rounds: restarts, report: report)
            try await RestartBench.run(rounds: restarts, durableSupervisor: true, report: report)
            try await DurableRestartBench.run(rounds: durableRestarts, durability: .process, report: report)
            try await DurableRestartBench.run(rounds: durableRestarts / 4, durability: .fsync, report: report)
        case .shell:
            try await ShellBench.run(processes: 100_000, report: report)
        case .idle:
            try await IdleBench.run(seconds: 3, report: report)
        case .effects:
            try await EffectBench.run(chains: 1_000, perChain: max(1, messages / 10_000), report: report)
        case .flows:
            try await FlowBench.run(flows: 10_000, steps: max(1, messages / 100_000), report: report)
        case .http:
            try await HTTPBench.run(seconds: seconds, rounds: rounds, calls: calls, durability: durability ?? .process, report: report)
        case .million:
            switch phase {
            case .first:
                let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
                try await MillionBench.run(processes: processes, executable: executable, keeping: data, report: report)
            case .prepare:
                guard let data else { throw ValidationError("--phase prepare needs --data DIR (where the first node's directory stays)") }
                try await MillionBench.prepare(data, processes: processes, report: report)
            case .restart:
                guard let data else { throw ValidationError("--phase restart needs --data DIR (the first node's directory)") }
                try await MillionBench.restartPhase(data, processes: processes, report: report)
            }
        case .watch:
            try await WatchBench.run(directories: directories, report: report)
        case .graph:
            try await GraphBench.run(samples: 100, burst: directories, report: report)
        case .savina:
            try await SavinaBench.run(rounds: rounds, hog: hog, only: only.map { Set($0.split(separator: ",").map(String.init)) }, report: report)
        }
    }
}


extension StoreEnvironment.Durability: ExpressibleByArgument {}

/// The nodes of `calf bench million`.
enum MillionPhase: String, ExpressibleByArgument {
    /// Spawns, ticks and passivates the processes, then runs the second.
    case first
    /// Only the first node, its directory kept in `--data` (for `restart` runs of its own).
    case prepare
    /// Starts on the first's directory and ticks each process again.
    case restart
}
