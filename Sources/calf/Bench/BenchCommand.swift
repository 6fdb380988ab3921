import ArgumentParser
import Calf
import Foundation

/// `calf bench NAME`: runs one benchmark and prints its figures.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark and print its figures (release build recommended)."
    )

    enum Name: String, ExpressibleByArgument, CaseIterable {
        case spawn, pingpong, ring, fanin
    }

    @Argument(help: "One of: \(Name.allCases.map(\.rawValue).joined(separator: ", ")).")
    var name: Name

    @Flag(help: "One JSON object per figure and line: name, value, unit.")
    var json = false

    @Option(help: "Processes to spawn (spawn).")
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

    @Option(help: "Schedulers (default: one per core).")
    var schedulers = Node.coreCount

    func run() async throws {
        let report = Report(json: json)
        switch name {
        case .spawn: try await SpawnBench.run(processes: processes, schedulers: schedulers, report: report)
        case .pingpong: try await PingPongBench.run(messages: messages, report: report)
        case .ring: try await RingBench.run(size: ringSize, laps: laps, report: report)
        case .fanin: try await FanInBench.run(senders: senders, perSender: perSender, schedulers: schedulers, report: report)
        }
    }
}

/// Prints figures as text or JSON lines.
struct Report: Sendable {
    let json: Bool

    func figure(_ name: String, _ value: Double, _ unit: String, note: String = "") {
        if json {
            let object: [String: Any] = ["name": name, "value": (value * 100).rounded() / 100, "unit": unit]
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]),
               let line = String(data: data, encoding: .utf8) {
                print(line)
            }
        } else {
            let shown = value >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value)
            print("\(name): \(shown) \(unit)\(note.isEmpty ? "" : "  (\(note))")")
        }
    }
}

/// Seconds on the monotonic clock.
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Resident set size of this OS process, in bytes.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
