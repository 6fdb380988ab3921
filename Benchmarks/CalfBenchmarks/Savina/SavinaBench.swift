import Calf
import Foundation

/// The sizes of the Savina benchmarks, the same for Calf and for Erlang.
struct SavinaSizes {
    var pingPongHops = 1_000_000
    var ringSize = 503
    var ringHops = 2_000_000
    var count = 1_000_000
    var bigWorkers = 120
    var bigPings = 5_000
    var forkJoinWorkers = 60
    var forkJoinPerWorker = 10_000
    var forkJoinCreations = 40_000
    var creatures = 100
    var meetings = 200_000

    /// In the order `savina.erl`'s `main` reads them.
    var erlangArguments: [String] {
        [pingPongHops, ringSize, ringHops, count, bigWorkers, bigPings, forkJoinWorkers, forkJoinPerWorker,
         forkJoinCreations, creatures, meetings].map(String.init)
    }
}

/// The `savina` benchmark of `calf bench`: a subset of the Savina actor
/// benchmark suite (Imam & Sarkar, 2014) in Calf and, when `erl` is
/// installed, in Erlang in the same run, with each Calf figure's ratio to
/// the BEAM's (its default schedulers, and `+S 1`). With `hog`, all of it
/// runs again beside one CPU-bound process (`yes > /dev/null`).
public enum SavinaBench {
    /// The benchmarks, by the name both sides print.
    static let names = ["pingpong", "threadring", "counting", "forkjoin_throughput", "forkjoin_creation", "chameneos", "big"]

    /// Runs the benchmarks (median of `rounds` runs each) alone and, with
    /// `hog`, beside a CPU-bound process; prints the figures to `report`.
    public static func run(rounds: Int, hog: Bool, report: Report) async throws {
        let sizes = SavinaSizes()
        var idleCalf: [String: Double] = [:]
        for condition in hog ? ["alone", "hog"] : ["alone"] {
            let hogProcess = condition == "hog" ? try startHog() : nil
            defer { hogProcess?.terminate() }
            let calf = try await runCalf(rounds: rounds, sizes: sizes)
            let erlang = SavinaErlang.installed ? SavinaErlang.run(flags: [], rounds: rounds, sizes: sizes) : [:]
            let erlangOne = SavinaErlang.installed ? SavinaErlang.run(flags: ["+S", "1"], rounds: rounds, sizes: sizes) : [:]
            if condition == "alone" { idleCalf = calf }
            let suffix = condition == "hog" ? "_hog" : ""
            for name in names {
                guard let rate = calf[name] else { continue }
                var notes: [String] = []
                if let peer = erlang[name] { notes.append(String(format: "erl %.0f, %.2fx", peer, rate / peer)) }
                if let peer = erlangOne[name] { notes.append(String(format: "erl +S 1 %.0f, %.2fx", peer, rate / peer)) }
                if condition == "hog", let alone = idleCalf[name] { notes.append(String(format: "%.2fx its figure alone", rate / alone)) }
                report.figure("savina_\(name)\(suffix)", rate, unit(name), note: notes.joined(separator: "; "))
                if report.json {
                    if let peer = erlang[name] {
                        report.figure("savina_\(name)\(suffix)_erl", peer, unit(name))
                        report.figure("savina_\(name)\(suffix)_ratio", rate / peer, "x")
                    }
                    if let peer = erlangOne[name] {
                        report.figure("savina_\(name)\(suffix)_erl_s1", peer, unit(name))
                        report.figure("savina_\(name)\(suffix)_ratio_s1", rate / peer, "x")
                    }
                }
            }
        }
        if !SavinaErlang.installed {
            FileHandle.standardError.write(Data("calf bench savina: erl is not installed (Debian: apt-get install erlang-nox); Calf figures only\n".utf8))
        }
    }

    private static func unit(_ name: String) -> String {
        switch name {
        case "forkjoin_creation": "processes/s"
        case "chameneos": "meetings/s"
        default: "msgs/s"
        }
    }

    /// Each Calf benchmark's median rate over `rounds` runs.
    private static func runCalf(rounds: Int, sizes: SavinaSizes) async throws -> [String: Double] {
        let runs: [(String, () async throws -> Double)] = [
            ("pingpong", { try await pingPong(hops: sizes.pingPongHops) }),
            ("threadring", { try await threadRing(size: sizes.ringSize, hops: sizes.ringHops) }),
            ("counting", { try await counting(count: sizes.count) }),
            ("forkjoin_throughput", { try await forkJoinThroughput(workers: sizes.forkJoinWorkers, perWorker: sizes.forkJoinPerWorker) }),
            ("forkjoin_creation", { try await forkJoinCreation(count: sizes.forkJoinCreations) }),
            ("chameneos", { try await chameneos(creatures: sizes.creatures, meetings: sizes.meetings) }),
            ("big", { try await big(workers: sizes.bigWorkers, pings: sizes.bigPings) }),
        ]
        var rates: [String: Double] = [:]
        for (name, run) in runs {
            var samples: [Double] = []
            for _ in 0..<max(1, rounds) { samples.append(try await run()) }
            rates[name] = samples.sorted()[samples.count / 2]
        }
        return rates
    }

    /// Runs one benchmark on a node of its own (one scheduler per core):
    /// `body` sets it up and starts it, returning when it started and how
    /// many units it will do; its end is the time the process it gave
    /// `done` sends. The rate, in units per second.
    static func onFreshNode(_ body: (Node, Address<Double>) async throws -> (start: Double, units: Double)) async throws -> Double {
        let node = try Node()
        let (done, stream) = try await node.receiver(of: Double.self)
        var iterator = stream.makeAsyncIterator()
        let (start, units) = try await body(node, done)
        let end = await iterator.next() ?? now()
        try await node.shutdown()
        return units / (end - start)
    }

    /// Starts a CPU-bound process beside the benchmarks: `yes`, its output thrown away.
    private static func startHog() throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SavinaErlang.executable("yes") ?? "/usr/bin/yes")
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }
}
