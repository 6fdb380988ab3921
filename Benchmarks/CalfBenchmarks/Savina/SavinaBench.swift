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
/// the BEAM's: Calf with one scheduler per core beside `erl` with its
/// default schedulers, Calf with one scheduler beside `erl +S 1`. With `hog`, all of it
/// runs again beside one CPU-bound process (`yes > /dev/null`).
public enum SavinaBench {
    /// The benchmarks, by the name both sides print.
    static let names = ["pingpong", "threadring", "counting", "forkjoin_throughput", "forkjoin_creation", "chameneos", "big"]

    /// Runs the benchmarks (median of `rounds` runs each) alone and, with
    /// `hog`, beside a CPU-bound process; prints the figures to `report`.
    /// - Parameter only: the benchmarks to run, by name (nil: all of them).
    public static func run(rounds: Int, hog: Bool, only: Set<String>? = nil, report: Report) async throws {
        let sizes = SavinaSizes()
        var alone: [String: Double] = [:]
        for condition in hog ? ["alone", "hog"] : ["alone"] {
            let hogProcess = condition == "hog" ? try startHog() : nil
            defer { hogProcess?.stop() }
            // Like for like: Calf with one scheduler per core beside erl's
            // default, and with one scheduler beside erl +S 1.
            let calf = try await runCalf(rounds: rounds, sizes: sizes, only: only, schedulers: Node.coreCount)
            let calfOne = try await runCalf(rounds: rounds, sizes: sizes, only: only, schedulers: 1)
            let erlang = SavinaErlang.installed ? SavinaErlang.run(flags: [], rounds: rounds, sizes: sizes, only: only) : [:]
            let erlangOne = SavinaErlang.installed ? SavinaErlang.run(flags: ["+S", "1"], rounds: rounds, sizes: sizes, only: only) : [:]
            if condition == "alone" { alone = calf }
            let suffix = condition == "hog" ? "_hog" : ""
            for name in names {
                guard let rate = calf[name], let rateOne = calfOne[name] else { continue }
                var notes: [String] = []
                if let peer = erlang[name] { notes.append(String(format: "erl %.0f: %.2fx", peer, rate / peer)) }
                notes.append(String(format: "one scheduler %.0f", rateOne))
                if let peer = erlangOne[name] { notes.append(String(format: "erl +S 1 %.0f: %.2fx", peer, rateOne / peer)) }
                if condition == "hog", let before = alone[name] { notes.append(String(format: "%.2fx its figure alone", rate / before)) }
                report.figure("savina_\(name)\(suffix)", rate, unit(name), note: notes.joined(separator: "; "))
                if report.json {
                    report.figure("savina_\(name)\(suffix)_1s", rateOne, unit(name))
                    if let peer = erlang[name] {
                        report.figure("savina_\(name)\(suffix)_erl", peer, unit(name))
                        report.figure("savina_\(name)\(suffix)_ratio", rate / peer, "x")
                    }
                    if let peer = erlangOne[name] {
                        report.figure("savina_\(name)\(suffix)_erl_s1", peer, unit(name))
                        report.figure("savina_\(name)\(suffix)_ratio_s1", rateOne / peer, "x")
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

    /// Each Calf benchmark's median rate over `rounds` runs, on nodes of `schedulers` schedulers.
    private static func runCalf(rounds: Int, sizes: SavinaSizes, only: Set<String>?, schedulers: Int) async throws -> [String: Double] {
        let runs: [(String, () async throws -> Double)] = [
            ("pingpong", { try await pingPong(hops: sizes.pingPongHops, schedulers: schedulers) }),
            ("threadring", { try await threadRing(size: sizes.ringSize, hops: sizes.ringHops, schedulers: schedulers) }),
            ("counting", { try await counting(count: sizes.count, schedulers: schedulers) }),
            ("forkjoin_throughput", {
                try await forkJoinThroughput(workers: sizes.forkJoinWorkers, perWorker: sizes.forkJoinPerWorker, schedulers: schedulers)
            }),
            ("forkjoin_creation", { try await forkJoinCreation(count: sizes.forkJoinCreations, schedulers: schedulers) }),
            ("chameneos", { try await chameneos(creatures: sizes.creatures, meetings: sizes.meetings, schedulers: schedulers) }),
            ("big", { try await big(workers: sizes.bigWorkers, pings: sizes.bigPings, schedulers: schedulers) }),
        ]
        var rates: [String: Double] = [:]
        for (name, run) in runs where only?.contains(name) ?? true {
            var samples: [Double] = []
            for _ in 0..<max(1, rounds) { samples.append(try await run()) }
            rates[name] = samples.sorted()[samples.count / 2]
        }
        return rates
    }

    /// Runs one benchmark on a node of its own with `schedulers` schedulers:
    /// `body` sets it up and starts it, returning when it started and how
    /// many units it will do; its end is the time the process it gave
    /// `done` sends. The rate, in units per second.
    static func onFreshNode(schedulers: Int, _ body: (Node, Address<Double>) async throws -> (start: Double, units: Double)) async throws -> Double {
        let node = try Node(schedulers: schedulers)
        let (done, stream) = try await node.receiver(of: Double.self)
        var iterator = stream.makeAsyncIterator()
        let (start, units) = try await body(node, done)
        let end = await iterator.next() ?? now()
        try await node.shutdown()
        return units / (end - start)
    }

    /// Starts a CPU-bound process beside the benchmarks: `yes`, its output
    /// thrown away. (Spawned and killed by hand: Foundation's
    /// `Process.terminate` left it running here.)
    private static func startHog() throws -> Hog {
        let path = SavinaErlang.executable("yes") ?? "/usr/bin/yes"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        let argument = strdup(path)
        defer { free(argument) }
        var argv: [UnsafeMutablePointer<CChar>?] = [argument, nil]
        let code = posix_spawn(&pid, path, &actions, nil, &argv, environ)
        guard code == 0 else { throw HogError(reason: "cannot start \(path): \(String(cString: strerror(code)))") }
        return Hog(pid: pid)
    }
}

/// The CPU-bound process `--hog` runs beside the benchmarks.
struct Hog {
    let pid: pid_t

    /// Kills it and waits for it to be gone.
    func stop() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

/// Why the hog did not start.
struct HogError: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
